"""What the hall's web service and head office's dashboard share: accounts and logins, security
headers, the base page, the static files."""
