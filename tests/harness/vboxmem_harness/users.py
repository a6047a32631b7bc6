"""The users tests and benchmarks run things as."""

import pwd

# The unprivileged user vboxmem-vm drops to when started as root.
SERVICE_USER = 'vboxmem'
# Test users (tools/test creates them): one in the group of the test polkit rules, one not.
USER_IN_GROUP = 'vboxmem-test1'
USER_OUTSIDE = 'vboxmem-test2'


def exists(user):
    try:
        pwd.getpwnam(user)
    except KeyError:
        return False
    return True


def test_users_exist():
    return exists(USER_IN_GROUP) and exists(USER_OUTSIDE)


def service_user_missing_reason():
    """None if the worker has its user to drop to, else what to do about it."""
    if exists(SERVICE_USER):
        return None
    return (f'no user {SERVICE_USER!r} for vboxmem-vm to drop to; create it with '
            f'useradd --system --no-create-home --shell /usr/sbin/nologin --user-group '
            f'{SERVICE_USER} (tools/test does)')


def user_command(user, argv):
    """ARGV run with USER's uid, primary gid and supplementary groups."""
    entry = pwd.getpwnam(user)
    return ['setpriv', f'--reuid={entry.pw_uid}', f'--regid={entry.pw_gid}',
            '--init-groups', '--'] + list(argv)
