"""skyplex-depyf: decompile CPython bytecode to source that is checked to recompile to the same bytecode."""
