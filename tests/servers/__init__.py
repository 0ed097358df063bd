"""Real servers for Atendo's tests: Dovecot (IMAP/IMAPS/LMTP), aiosmtpd SMTP, PostgreSQL.

Never protocol mocks. See ``fixtures.py`` for the pytest fixtures built on these helpers.
"""
