/*!
Reports of a set of runs: human, JSON, JUnit, TAP.
*/
