//! I/O driver for the 1mcp core. (Being written.)
