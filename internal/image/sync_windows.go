package image

// syncDir does nothing on Windows: a folder cannot be opened for
// flushing there, and NTFS journals renames itself.
func syncDir(dir string) error { return nil }
