"""Whether KVM can run VMs here."""

import fcntl
import os

from . import paths, users

KVM_GET_API_VERSION = 0xAE00
KVM_CHECK_EXTENSION = 0xAE03
KVM_API_VERSION = 12
KVM_CAP_IRQFD = 32
KVM_CAP_IOEVENTFD = 36


def kvm_unusable_reason():
    """None if this process can create VMs through /dev/kvm, else why not."""
    try:
        fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    except OSError as error:
        return f'/dev/kvm is not usable: {error.strerror}'
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
    except OSError as error:
        return f'/dev/kvm does not answer KVM_GET_API_VERSION: {error.strerror}'
    finally:
        os.close(fd)
    if version != KVM_API_VERSION:
        return f'/dev/kvm has KVM API version {version}, not {KVM_API_VERSION}'
    return None


def has_cap(cap):
    fd = os.open('/dev/kvm', os.O_RDWR | os.O_CLOEXEC)
    try:
        return fcntl.ioctl(fd, KVM_CHECK_EXTENSION, cap) > 0
    finally:
        os.close(fd)


def machines_unusable_reason():
    """None if vboxmemd can run machines here (KVM, the built worker and test guest,
    the service user), else why not: for a skip message."""
    reason = kvm_unusable_reason()
    if reason:
        return reason
    for path, what in ((paths.worker_binary(), 'vboxmem-vm'),
                       (paths.guest_image(), 'the test guest')):
        if not os.path.exists(path):
            return f'{what} is not built: {path} is missing'
    return users.service_user_missing_reason()
