"""The private control protocol between vboxmemd and vboxmem-vm, in Python.

One record per SOCK_SEQPACKET datagram: an 8-byte header (kind u16, size u16 of
the whole record, id u32, little-endian), then the fields of its kind in table
order. Nothing of the layout is written here: it is read from the JSON that the
build prints from the C table (service/protocol/vmp-table.h through vmp-describe:
build/service/protocol/worker-protocol.json), so kind names and numbers, field
order, types, ranges, sizes, senders, ids, descriptor counts, states, statuses
and flags are the C codec's own.

encode() refuses by default what the C decoder would refuse (the same range
checks, in the same order); check=False packs anything that fits the wire
format, for hostile-input tests, and raw() any bytes at all. decode() checks a
record as vmp_decode() does and raises DecodeError naming the same failure.
"""

import json
import struct

from . import paths

HEADER = struct.Struct('<HHI')

# The integer fields' wire formats; text is VMP_REASON_SIZE bytes, NUL-padded.
_FORMATS = {'u32': '<I', 'i32': '<i', 'u64': '<Q', 'i64': '<q', 'flags': '<I'}

# What vmp_decode() can answer, by the names vmp_decode_result_name() gives them.
TRUNCATED = 'shorter than a record header'
OVERSIZED = 'longer than any record'
UNKNOWN_KIND = 'unknown record kind'
WRONG_SENDER = 'a record the sender may not send'
BAD_SIZE = 'wrong size for its kind'
BAD_ID = 'wrong request id for its kind'
FD_COUNT = 'wrong number of file descriptors for its kind'
OUT_OF_RANGE = 'a field out of range'

# The GUEST_STATS fields that are not statistics; the others are, in virtio tag order.
_STATS_HEADER = ('known', 'updated_us')


class ProtocolError(Exception):
    pass


class EncodeError(ProtocolError, ValueError):
    """A record the receiver's decoder would refuse, or that cannot be written at all."""


class DecodeError(ProtocolError):
    """A record refused as vmp_decode() refuses it: RESULT is one of the constants
    above, FIELD the field out of range (or None)."""

    def __init__(self, result, field=None, data=b''):
        message = result + (f' ({field})' if field else '')
        super().__init__(message)
        self.result = result
        self.field = field
        self.data = data


def _text_problem(raw):
    """Why RAW (bytes, up to the first NUL) is not valid reason text, or None: UTF-8
    without C0 or C1 control characters, as the C codec's text check wants."""
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as error:
        return f'not UTF-8: {error.reason}'
    for char in text:
        code = ord(char)
        if code < 0x20 or 0x7f <= code <= 0x9f:
            return f'control character U+{code:04X}'
    return None


class Field:
    """One field of a record kind, as the table describes it."""

    def __init__(self, entry):
        self.name = entry['name']
        self.type = entry['type']
        self.size = entry['size']
        self.min, self.max = entry['min'], entry['max']
        self.smin, self.smax = entry['smin'], entry['smax']
        self.multiple = entry['multiple']
        fmt = f'{self.size}s' if self.type == 'text' else _FORMATS[self.type]
        self.struct = struct.Struct(fmt)
        if self.struct.size != self.size:
            raise ProtocolError(f'field {self.name}: {self.type} is {self.struct.size} bytes, '
                                f'the table says {self.size}')

    def problem(self, value):
        """Why the receiver would refuse VALUE in this field, or None."""
        if self.type == 'text':
            raw = value.encode('utf-8') if isinstance(value, str) else bytes(value)
            if len(raw) > self.size - 1:
                return f'{len(raw)} bytes, at most {self.size - 1} fit'
            if b'\0' in raw:
                return 'a NUL byte inside'
            return _text_problem(raw)
        if not isinstance(value, int) or isinstance(value, bool):
            return f'{value!r} is not an integer'
        if self.type in ('i32', 'i64'):
            if not self.smin <= value <= self.smax:
                return f'{value} is not in {self.smin}..{self.smax}'
            return None
        if self.type == 'flags':
            if value < 0 or value & ~self.max:
                return f'{value:#x} has bits outside {self.max:#x}'
            return None
        if not self.min <= value <= self.max:
            return f'{value} is not in {self.min}..{self.max}'
        if self.multiple and value % self.multiple:
            return f'{value} is not a multiple of {self.multiple}'
        return None

    def pack(self, value, check=True):
        if check:
            problem = self.problem(value)
            if problem:
                raise EncodeError(f'{self.name}: {problem}')
        if self.type == 'text':
            raw = value.encode('utf-8') if isinstance(value, str) else bytes(value)
            return raw[:self.size].ljust(self.size, b'\0')
        try:
            return self.struct.pack(value)
        except struct.error as error:
            raise EncodeError(f'{self.name}: {value!r} does not fit a {self.type}: '
                              f'{error}') from None

    def unpack(self, data, offset):
        """The value at OFFSET of DATA; DecodeError if the receiver refuses it."""
        (value,) = self.struct.unpack_from(data, offset)
        if self.type == 'text':
            end = value.find(b'\0')
            if end < 0 or value[end:].strip(b'\0') or _text_problem(value[:end]):
                raise DecodeError(OUT_OF_RANGE, self.name, data)
            return value[:end].decode('utf-8')
        if self.problem(value):
            raise DecodeError(OUT_OF_RANGE, self.name, data)
        return value


class Kind:
    """One record kind: NAME ('SET_BALLOON_TARGET'), NUMBER, SENDER ('daemon' or
    'worker'), HAS_ID (a request or its reply), N_FDS, SIZE (header included) and
    its FIELDS in wire order."""

    def __init__(self, entry, header_size):
        self.number = entry['kind']
        self.name = entry['name']
        self.sender = entry['sender']
        self.has_id = entry['has_id']
        self.n_fds = entry['n_fds']
        self.size = entry['size']
        self.fields = [Field(field) for field in entry['fields']]
        self.field_names = [field.name for field in self.fields]
        if header_size + sum(field.size for field in self.fields) != self.size:
            raise ProtocolError(f'kind {self.name}: its fields do not add up to its size '
                                f'{self.size}')

    def __repr__(self):
        return f'<Kind {self.name} ({self.number})>'


class Record:
    """A decoded record: KIND (a Kind), ID, FIELDS ({name: value}) and the wire
    bytes DATA. INDEX is its position among the records a WorkerControl received."""

    __slots__ = ('kind', 'id', 'fields', 'data', 'index', 'time')

    def __init__(self, kind, record_id, fields, data=b''):
        self.kind = kind
        self.id = record_id
        self.fields = fields
        self.data = data
        self.index = None
        self.time = None

    @property
    def name(self):
        return self.kind.name

    def __getitem__(self, name):
        return self.fields[name]

    def get(self, name, default=None):
        return self.fields.get(name, default)

    def __repr__(self):
        fields = ', '.join(f'{key}={value!r}' for key, value in self.fields.items())
        return f'{self.name}(id={self.id}{", " if fields else ""}{fields})'


class Protocol:
    """The record table, from the build's JSON."""

    def __init__(self, table):
        self.table = table
        self.magic = table['magic']
        self.version = table['version']
        self.header_size = table['header_size']
        self.record_max = table['record_max']
        if self.header_size != HEADER.size:
            raise ProtocolError(f'the table has a {self.header_size}-byte header, '
                                f'not {HEADER.size}')
        self.states = dict(table['states'])
        self.state_names = {number: name for name, number in self.states.items()}
        self.statuses = dict(table['statuses'])
        self.status_names = {number: name for name, number in self.statuses.items()}
        self.stopped_flags = dict(table['stopped_flags'])
        self.kinds = {}
        self.by_name = {}
        for entry in table['kinds']:
            kind = Kind(entry, self.header_size)
            self.kinds[kind.number] = kind
            self.by_name[kind.name] = kind
        stats = self.kind('GUEST_STATS')
        # Bit n of `known` says whether the n-th statistic was reported.
        self.stat_names = [name for name in stats.field_names if name not in _STATS_HEADER]
        known = stats.fields[stats.field_names.index('known')]
        if known.max != (1 << len(self.stat_names)) - 1:
            raise ProtocolError(f'GUEST_STATS: {len(self.stat_names)} statistics, but known '
                                f'allows {known.max:#x}')

    @classmethod
    def load(cls, path=None):
        """The table at PATH, by default the build's (paths.protocol_table())."""
        path = path or paths.protocol_table()
        try:
            with open(path) as f:
                table = json.load(f)
        except FileNotFoundError:
            raise ProtocolError(f'{path} is missing: build it with `ninja -C '
                                f'{paths.build_dir()}` (service/protocol/vmp-describe '
                                'prints it)') from None
        return cls(table)

    def kind(self, kind):
        """The Kind of a name or number; KeyError if there is none."""
        if isinstance(kind, Kind):
            return kind
        found = self.kinds.get(kind) if isinstance(kind, int) else self.by_name.get(kind)
        if found is None:
            raise KeyError(f'no record kind {kind!r}')
        return found

    def state_name(self, number):
        return self.state_names[number]

    def status_name(self, number):
        return self.status_names[number]

    def flag_names(self, flags):
        """The names of the STOPPED flags set in FLAGS."""
        return {name for name, bit in self.stopped_flags.items() if flags & bit}

    def flags(self, *names):
        value = 0
        for name in names:
            value |= self.stopped_flags[name]
        return value

    # -- writing --

    def encode(self, kind, record_id=0, check=True, sender='daemon', **fields):
        """The wire form of a record of KIND with ID and FIELDS (by name).

        With CHECK, refuses (EncodeError) what the receiver's decoder would: a kind
        SENDER may not send, an id where the kind takes none or none where it takes
        one, a missing field, a value out of its range. Without, only what cannot be
        written (an unknown field name, a value too large for its type); missing
        fields are 0."""
        try:
            kind = self.kind(kind)
        except KeyError as error:
            raise EncodeError(str(error)) from None
        unknown = set(fields) - set(kind.field_names)
        if unknown:
            raise EncodeError(f'{kind.name} has no field {", ".join(sorted(unknown))}')
        if check:
            if sender is not None and kind.sender != sender:
                raise EncodeError(f'{kind.name} is sent by the {kind.sender}, not the '
                                  f'{sender}')
            if kind.has_id != (record_id != 0):
                raise EncodeError(f'{kind.name} takes ' + (
                    'a nonzero id' if kind.has_id else 'id 0') + f', not {record_id}')
            missing = [name for name in kind.field_names if name not in fields]
            if missing:
                raise EncodeError(f'{kind.name} needs {", ".join(missing)}')
        payload = b''.join(
            field.pack(fields.get(field.name, '' if field.type == 'text' else 0), check)
            for field in kind.fields)
        return self.header(kind.number, kind.size, record_id) + payload

    @staticmethod
    def header(kind, size, record_id):
        """A record header of any values that fit its fields, for hostile records."""
        try:
            return HEADER.pack(kind, size, record_id)
        except struct.error as error:
            raise EncodeError(f'header ({kind}, {size}, {record_id}): {error}') from None

    # -- reading --

    def decode(self, data, n_fds=0, sender='worker'):
        """The Record in DATA, received with N_FDS descriptors from SENDER; raises
        DecodeError for what vmp_decode() refuses, checked in its order."""
        data = bytes(data)
        if len(data) < self.header_size:
            raise DecodeError(TRUNCATED, data=data)
        if len(data) > self.record_max:
            raise DecodeError(OVERSIZED, data=data)
        number, size, record_id = HEADER.unpack_from(data)
        kind = self.kinds.get(number)
        if kind is None:
            raise DecodeError(UNKNOWN_KIND, data=data)
        if kind.sender != sender:
            raise DecodeError(WRONG_SENDER, data=data)
        if size != len(data) or len(data) != kind.size:
            raise DecodeError(BAD_SIZE, data=data)
        if kind.has_id != (record_id != 0):
            raise DecodeError(BAD_ID, data=data)
        if n_fds != kind.n_fds:
            raise DecodeError(FD_COUNT, data=data)
        fields = {}
        offset = self.header_size
        for field in kind.fields:
            fields[field.name] = field.unpack(data, offset)
            offset += field.size
        return Record(kind, record_id, fields, data)

    def guest_stats(self, record):
        """The statistics a GUEST_STATS record reports, {name: value}, without those
        its `known` bits say were not reported."""
        known = record['known']
        return {name: record[name] for bit, name in enumerate(self.stat_names)
                if known & (1 << bit)}


_loaded = {}


def load(path=None):
    """The build's Protocol (read once per path)."""
    path = path or paths.protocol_table()
    if path not in _loaded:
        _loaded[path] = Protocol.load(path)
    return _loaded[path]
