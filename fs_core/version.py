"""fs's version: one module of its own, so that any module can read it without importing the
package root (whose convenience functions import much of fs)."""

__version__ = "0.1.0"
