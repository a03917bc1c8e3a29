"""Work off the UI thread or in slices between paints, and decoding big reports in steps."""
