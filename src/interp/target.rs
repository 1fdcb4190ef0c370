/*! target */
