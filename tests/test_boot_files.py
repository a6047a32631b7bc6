#!/usr/bin/python3
"""A machine's kernel and initrd are opened with its owner's rights.

vboxmemd runs as root: it must not boot, for a user, a file that user may not
read, nor tell them whether such a file exists. The files are opened after
polkit answered, as the owner, without following a symbolic link at the end,
and handed to the worker as descriptors.

Runs with the stand-in worker of tests/hostile-worker (no KVM needed), which
reports what it got through --kernel-fd and --initrd-fd on its stderr, and
with the polkit rule that lets members of the test group manage their own
machines.
"""

import os
import pwd
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'harness'))

from vboxmem_harness import MiB, testing  # noqa: E402
from vboxmem_harness.daemon import ERROR  # noqa: E402
from vboxmem_harness.daemontest import DaemonTestCase, is_console_log  # noqa: E402
from vboxmem_harness.users import USER_IN_GROUP  # noqa: E402

INVALID_ARGUMENT = ERROR + 'InvalidArgument'


class TestBootFiles(DaemonTestCase):
    def setUp(self):
        super().setUp()
        self.member = self.as_user(USER_IN_GROUP)
        self.uid = pwd.getpwnam(USER_IN_GROUP).pw_uid
        # A directory the member can reach, with files of each kind.
        self.dir = os.path.join(self.test_dir, 'boot-files')
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.own = self.write('own-kernel', b'OWN KERNEL\n', self.uid, 0o644)
        self.own_initrd = self.write('own-initrd', b'OWN INITRD\n', self.uid, 0o644)
        self.secret = self.write('root-only', b'ROOT SECRET\n', 0, 0o600)

    def write(self, name, content, uid, mode):
        path = os.path.join(self.dir, name)
        with open(path, 'wb') as f:
            f.write(content)
        os.chown(path, uid, -1)
        os.chmod(path, mode)
        return path

    def symlink(self, name, target):
        path = os.path.join(self.dir, name)
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)
        os.lchown(path, self.uid, -1)
        return path

    def test_owner_files_reach_the_worker(self):
        offset = self.daemon_log_size()
        path = self.member.create_machine('own-files', MemorySize=64 * MiB, Kernel=self.own,
                                          Initrd=self.own_initrd)
        self.member.start(path)
        log = self.wait_for(lambda: 'initrd-fd starts' in self.daemon_log(offset)
                            and self.daemon_log(offset), 'the worker reports its files')
        self.assertIn("kernel-fd starts with 'OWN KERNEL'", log)
        self.assertIn("initrd-fd starts with 'OWN INITRD'", log)
        self.member.power_off(path)

    def test_unreadable_file_is_refused_without_an_oracle(self):
        path = self.member.create_machine('secret', MemorySize=64 * MiB)
        with self.assertStateUnchanged():
            readable_but_secret = self.assertDBusError(INVALID_ARGUMENT, self.member.modify, path,
                                                       Kernel=self.secret)
            missing = self.assertDBusError(INVALID_ARGUMENT, self.member.modify, path,
                                           Initrd=os.path.join(self.dir, 'no-such-file'))
        self.assertIn(f'cannot be read by uid {self.uid}', readable_but_secret.message)
        # A file that exists and one that does not read alike.
        self.assertEqual(readable_but_secret.message.replace(self.secret, 'X').replace('Kernel', 'K'),
                         missing.message.replace(os.path.join(self.dir, 'no-such-file'), 'X')
                         .replace('Initrd', 'K'))
        # Root may: the files are opened as the caller.
        root_path = self.client.create_machine('root-secret', MemorySize=64 * MiB,
                                               Kernel=self.secret)
        self.client.unregister(root_path)

    def test_symlink_is_refused(self):
        path = self.member.create_machine('link', MemorySize=64 * MiB)
        link = self.symlink('link-to-own', self.own)
        error = self.assertDBusError(INVALID_ARGUMENT, self.member.modify, path, Kernel=link)
        self.assertIn('symbolic link', error.message)

    def test_swapped_file_is_refused_at_start(self):
        """What was readable at Modify time may not be at Start: it is opened again then."""
        for swap in ('symlink', 'root-only'):
            with self.subTest(swap=swap):
                kernel = self.write('swapped', b'OWN KERNEL\n', self.uid, 0o644)
                path = self.member.create_machine('swap-' + swap, MemorySize=64 * MiB,
                                                  Kernel=kernel)
                os.unlink(kernel)
                if swap == 'symlink':
                    self.symlink('swapped', self.secret)
                else:
                    self.write('swapped', b'ROOT SECRET\n', 0, 0o600)
                offset = self.daemon_log_size()
                with self.assertStateUnchanged(ignore=is_console_log):
                    self.assertDBusError(INVALID_ARGUMENT, self.member.start, path)
                self.assertEqual(self.client.state(path), 'powered-off')
                self.assertEqual(self.client.pool()['MemoryCommitted'], 0)
                self.assertNotIn('ROOT SECRET', self.daemon_log(offset))
                self.assertNotIn('-fd starts', self.daemon_log(offset))
                self.member.unregister(path)
                os.unlink(os.path.join(self.dir, 'swapped'))


if __name__ == '__main__':
    testing.main()
