/*!
The raw scenario: the TOML document parsed with every key and value's span kept.
*/
