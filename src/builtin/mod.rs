/*!
Embedded reference servers: `uppercase`, `echo` and flawed variants, over TCP and UDP.
*/
