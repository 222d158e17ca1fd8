"""Frontends: import models from other formats into the IR through declarative mapping tables."""
