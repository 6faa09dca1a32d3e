"""Small real models trained by the project's own seeded code on data that ships with packages."""
