"""Region formation: group nodes into layers and blocks (multi-granularity)."""
