"""The admin console at /admin/ui/ and its sign-in (gateway/console/mount.py mounts it).
Kept free of imports so that the admin API can import the console's auth without the pages."""
