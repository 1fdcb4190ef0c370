/*! link */
