//! Deterministic simulation of the 1mcp core. (Being written.)
