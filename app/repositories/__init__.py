"""The only code that queries the database; functions take a Session and never commit."""
