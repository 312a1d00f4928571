"""The project's own files: measured acceptance (``measure``) and exact oracle curves (``oracle``), read and written."""
