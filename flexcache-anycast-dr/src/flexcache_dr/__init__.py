"""flexcache-anycast-dr: choose, publish and drill each client region's read path (FlexCache or origin)."""
