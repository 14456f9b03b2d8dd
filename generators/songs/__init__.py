"""Songs from the lyrics model: rhyme schemes, song forms and singable lines (see :mod:`.writer`)."""
