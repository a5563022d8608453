"""One login with python-crowd (PyPI "Crowd"), as a pam_exec or pam_python script
does it: auth_user, then the user's nested groups against the rule's groups.

Usage: python_crowd_login.py URL APPLICATION CA_FILE USER GROUP...
The application password and the user's password are the first two lines of stdin.
Exits 0 when the password is accepted and the user is in one of the groups."""
import sys

import crowd

url, application, ca_file, user, *groups = sys.argv[1:]
app_password = sys.stdin.readline().rstrip("\n")
password = sys.stdin.readline().rstrip("\n")
server = crowd.CrowdServer(url, application, app_password, ssl_verify=ca_file, timeout=10)
if not server.auth_user(user, password):
    sys.exit(1)
member_of = {g.lower() for g in (server.get_nested_groups(user) or [])}
sys.exit(0 if any(g.lower() in member_of for g in groups) else 1)
