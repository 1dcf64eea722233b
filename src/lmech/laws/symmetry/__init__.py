"""Laws of neural mechanics: symmetries, Noether charges and their broken conservation."""
