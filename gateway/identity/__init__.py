"""Who may administer the gateway: the console's roles, the person behind a session, and the
sessions themselves (stored in the database). No HTTP here: gateway/api/auth.py reads
credentials from requests, gateway/console/ signs people in."""
