/*! engine */
