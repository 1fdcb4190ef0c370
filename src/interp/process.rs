/*! process */
