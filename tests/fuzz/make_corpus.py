#!/usr/bin/env python3
"""Write the seed corpora of tests/fuzz (docs/security.md).

Each seed is a small valid input of one target, in that target's input
format (the comment at the top of tests/fuzz/fuzz_<name>.c): real iSCSI
PDUs (RFC 7143 section 11), CDBs and parameter lists (SPC-4, SSC-4,
SMC-3), control requests (docs/library.md), vtld.conf, and S3 answers as
the Amazon S3 API Reference shows them. The seeds are committed; run this
again after changing an input format:

    python3 tests/fuzz/make_corpus.py

It rewrites the seed-* files only; the regress-* files (inputs that once
found a bug) are kept as they are.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
NEXT_CONN = b"\nFZ-NEXT-CONNECTION\n"


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ---- iSCSI (RFC 7143 section 11) --------------------------------------------

TARGET = b"iqn.2024-01.fuzz:vtl"
CHAP_TARGET = b"iqn.2024-01.fuzz:chap"
INITIATOR = b"iqn.2024-01.fuzz:initiator"
ISID = bytes([0x80, 0, 0, 0, 0, 1])


def keys(*pairs):
    return b"".join(k + b"=" + v + b"\0" for k, v in pairs)


def pad(data):
    return data + b"\0" * (-len(data) % 4)


def lun_field(lun):
    return bytes([0, lun, 0, 0, 0, 0, 0, 0])


def pdu(bhs, data=b""):
    """A 48-byte BHS with DataSegmentLength filled in, then padded data."""
    assert len(bhs) == 48
    bhs = bytearray(bhs)
    bhs[5:8] = len(data).to_bytes(3, "big")
    return bytes(bhs) + pad(data)


def login(flags, data, itt=1, cmdsn=1, tsih=0):
    bhs = bytearray(48)
    bhs[0] = 0x43  # Login Request, immediate
    bhs[1] = flags
    bhs[8:14] = ISID
    bhs[14:16] = struct.pack(">H", tsih)
    bhs[16:20] = struct.pack(">I", itt)
    bhs[24:28] = struct.pack(">I", cmdsn)
    return pdu(bhs, data)


def scsi_cmd(lun, cdb, itt, cmdsn, read=0, write=0, data=b""):
    """SCSI Command (11.3): EDTL is the read or write length."""
    bhs = bytearray(48)
    bhs[0] = 0x01
    bhs[1] = 0x80 | (0x40 if read else 0) | (0x20 if write else 0) | 1
    bhs[8:16] = lun_field(lun)
    bhs[16:20] = struct.pack(">I", itt)
    bhs[20:24] = struct.pack(">I", read or write)
    bhs[24:28] = struct.pack(">I", cmdsn)
    bhs[28:32] = struct.pack(">I", 1)
    bhs[32:32 + len(cdb)] = cdb
    return pdu(bhs, data)


def data_out(lun, itt, offset, data, datasn, final, ttt=0xFFFFFFFF):
    bhs = bytearray(48)
    bhs[0] = 0x05
    bhs[1] = 0x80 if final else 0
    bhs[8:16] = lun_field(lun)
    bhs[16:20] = struct.pack(">I", itt)
    bhs[20:24] = struct.pack(">I", ttt)
    bhs[28:32] = struct.pack(">I", 1)
    bhs[36:40] = struct.pack(">I", datasn)
    bhs[40:44] = struct.pack(">I", offset)
    return pdu(bhs, data)


def nop_out(itt, cmdsn, data=b""):
    bhs = bytearray(48)
    bhs[0] = 0x40  # NOP-Out, immediate
    bhs[1] = 0x80
    bhs[16:20] = struct.pack(">I", itt)
    bhs[20:24] = b"\xff\xff\xff\xff"
    bhs[24:28] = struct.pack(">I", cmdsn)
    return pdu(bhs, data)


def text_req(itt, cmdsn, data):
    bhs = bytearray(48)
    bhs[0] = 0x04
    bhs[1] = 0x80
    bhs[16:20] = struct.pack(">I", itt)
    bhs[20:24] = b"\xff\xff\xff\xff"
    bhs[24:28] = struct.pack(">I", cmdsn)
    return pdu(bhs, data)


def tmf(function, lun, itt, cmdsn, ref_itt=0xFFFFFFFF, ref_cmdsn=0):
    bhs = bytearray(48)
    bhs[0] = 0x42  # Task Management Function Request, immediate
    bhs[1] = 0x80 | function
    bhs[8:16] = lun_field(lun)
    bhs[16:20] = struct.pack(">I", itt)
    bhs[20:24] = struct.pack(">I", ref_itt)
    bhs[24:28] = struct.pack(">I", cmdsn)
    bhs[32:36] = struct.pack(">I", ref_cmdsn)
    return pdu(bhs)


def logout(itt, cmdsn, reason=0):
    bhs = bytearray(48)
    bhs[0] = 0x46  # Logout Request, immediate
    bhs[1] = 0x80 | reason
    bhs[16:20] = struct.pack(">I", itt)
    bhs[24:28] = struct.pack(">I", cmdsn)
    return pdu(bhs)


def be24(n):
    return n.to_bytes(3, "big")


def iscsi_seeds():
    # Mode byte 1: the harness logs in first (normal session, CmdSN 1);
    # 4: and logs out after the bytes.
    inquiry = bytes([0x12, 0, 0, 0, 96, 0])
    tur = bytes(6)
    res = bytes([0xB8, 0x10, 0, 0, 0, 20, 0]) + be24(4096) + bytes(2)
    s = b"\x01"
    s += scsi_cmd(0, tur, 1, 1)
    s += scsi_cmd(1, inquiry, 2, 2, read=96)
    s += scsi_cmd(0, res, 3, 3, read=4096)
    s += scsi_cmd(1, tur, 4, 4)
    s += scsi_cmd(1, tur, 5, 5)
    s += scsi_cmd(1, bytes([0x08, 0]) + be24(65536) + b"\0", 6, 6, read=65536)
    s += scsi_cmd(1, bytes([0x34, 0x06]) + bytes(8), 7, 7, read=32)
    s += logout(8, 8)
    write("iscsi", "commands", s)

    # Writing: immediate data, then Data-Out for the target's R2T (the
    # target keeps InitialR2T=Yes; its first Target Transfer Tag on a
    # connection is 1).
    rec = bytes(range(256)) * 4
    s = b"\x01"
    s += scsi_cmd(1, tur, 1, 1) + scsi_cmd(1, tur, 2, 2)
    s += scsi_cmd(1, bytes([0x0A, 0]) + be24(1024) + b"\0", 3, 3, write=1024, data=rec)
    s += scsi_cmd(1, bytes([0x0A, 0]) + be24(3072) + b"\0", 4, 4, write=3072, data=rec)
    s += data_out(1, 4, 1024, rec, 0, False, ttt=1) + data_out(1, 4, 2048, rec, 1, True, ttt=1)
    s += scsi_cmd(1, bytes([0x10, 0, 0, 0, 1, 0]), 5, 5)
    s += scsi_cmd(1, bytes([0x01, 0, 0, 0, 0, 0]), 6, 6)
    s += nop_out(7, 7, b"ping")
    s += text_req(8, 7, keys((b"SendTargets", b"All")))
    s += tmf(5, 1, 9, 8)
    s += logout(10, 8)
    write("iscsi", "write", s)

    # The changer: MOVE MEDIUM slot 1001 to drive 501, then the drive.
    move = bytes([0xA5, 0, 0, 1]) + struct.pack(">HH", 1001, 501) + bytes(4)
    s = b"\x01" + scsi_cmd(0, tur, 1, 1) + scsi_cmd(0, move, 2, 2)
    s += scsi_cmd(2, tur, 3, 3) + scsi_cmd(2, tur, 4, 4)
    s += scsi_cmd(2, bytes([0x1A, 0, 0x3F, 0, 255, 0]), 5, 5, read=255)
    s += scsi_cmd(2, bytes([0x1B, 0, 0, 0, 0, 0]), 6, 6)
    s += scsi_cmd(0, move[:4] + struct.pack(">HH", 501, 1001) + bytes(4), 7, 7)
    s += tmf(1, 0, 8, 8, ref_itt=2, ref_cmdsn=2)
    s += logout(9, 8)
    write("iscsi", "changer", s)

    # Mode 5: the harness logs in and out; in between, a READ ELEMENT
    # STATUS and reads of the loaded drive.
    s = b"\x05" + scsi_cmd(0, res, 1, 1, read=4096) + scsi_cmd(0, res, 2, 2, read=4096)
    s += scsi_cmd(1, tur, 3, 3) + scsi_cmd(1, bytes([0x08, 0]) + be24(512) + b"\0", 4, 4, read=512)
    write("iscsi", "login-logout", s)

    # Discovery session (mode 3): SendTargets, then logout.
    s = b"\x03" + text_req(1, 1, keys((b"SendTargets", b"All"))) + logout(2, 2)
    write("iscsi", "discovery", s)

    # Raw login through both stages, then a command.
    sec = keys((b"InitiatorName", INITIATOR), (b"TargetName", TARGET),
               (b"SessionType", b"Normal"), (b"AuthMethod", b"None"))
    ops = keys((b"HeaderDigest", b"None"), (b"DataDigest", b"None"),
               (b"MaxRecvDataSegmentLength", b"65536"), (b"MaxBurstLength", b"262144"),
               (b"FirstBurstLength", b"65536"), (b"ImmediateData", b"Yes"),
               (b"InitialR2T", b"Yes"), (b"MaxOutstandingR2T", b"1"),
               (b"ErrorRecoveryLevel", b"0"), (b"DefaultTime2Wait", b"2"),
               (b"DefaultTime2Retain", b"0"), (b"DataPDUInOrder", b"Yes"),
               (b"DataSequenceInOrder", b"Yes"), (b"MaxConnections", b"1"),
               (b"IFMarker", b"No"), (b"OFMarker", b"No"), (b"X-com.example.key", b"1"))
    s = b"\x00" + login(0x81, sec) + login(0x87, ops)
    # A write that needs an R2T (InitialR2T=Yes): the target's first TTT
    # on a connection is 1.
    s += scsi_cmd(1, tur, 1, 1) + scsi_cmd(1, tur, 2, 2)
    s += scsi_cmd(1, bytes([0x0A, 0]) + be24(2048) + b"\0", 3, 3, write=2048, data=rec)
    s += data_out(1, 3, 1024, rec, 0, True, ttt=1)
    s += logout(4, 4)
    write("iscsi", "login-stages", s)

    # CHAP (12.1.3) against the CHAP target: the response cannot match
    # the target's random challenge; what it parses is the point.
    s = b"\x00"
    s += login(0x01, keys((b"InitiatorName", INITIATOR), (b"TargetName", CHAP_TARGET),
                          (b"SessionType", b"Normal"), (b"AuthMethod", b"CHAP,None")))
    s += login(0x01, keys((b"CHAP_A", b"7,6,5")))
    s += login(0x81, keys((b"CHAP_N", b"fuzzuser"),
                          (b"CHAP_R", b"0x" + b"ab" * 32),
                          (b"CHAP_I", b"7"), (b"CHAP_C", b"0b" + b"QUJDREVGR0hJSktMTU5PUA==")))
    write("iscsi", "chap", s)

    # Two connections one after the other: the same ISID again.
    one = b"\x01" + scsi_cmd(0, tur, 1, 1) + logout(2, 2)
    write("iscsi", "two-connections", one + NEXT_CONN + one)

    # Header digest negotiated, then a PDU with a CRC32C.
    ops2 = keys((b"InitiatorName", INITIATOR), (b"TargetName", TARGET),
                (b"SessionType", b"Normal"), (b"HeaderDigest", b"CRC32C,None"),
                (b"DataDigest", b"CRC32C"))
    write("iscsi", "digests", b"\x00" + login(0x87, ops2) + scsi_cmd(0, tur, 1, 1) + b"\0" * 4)


def iscsi_text_seeds():
    ops = keys((b"InitiatorName", INITIATOR), (b"TargetName", TARGET),
               (b"SessionType", b"Normal"), (b"HeaderDigest", b"CRC32C,None"),
               (b"DataDigest", b"None"), (b"MaxRecvDataSegmentLength", b"262144"),
               (b"MaxBurstLength", b"16776192"), (b"FirstBurstLength", b"262144"),
               (b"ImmediateData", b"Yes"), (b"InitialR2T", b"No"),
               (b"MaxOutstandingR2T", b"1"), (b"ErrorRecoveryLevel", b"0"),
               (b"DefaultTime2Wait", b"2"), (b"DefaultTime2Retain", b"20"),
               (b"DataPDUInOrder", b"Yes"), (b"DataSequenceInOrder", b"Yes"),
               (b"MaxConnections", b"1"), (b"IFMarker", b"No"), (b"OFMarker", b"No"),
               (b"IFMarkInt", b"2048~8192"), (b"iSCSIProtocolLevel", b"1"))
    write("iscsi_text", "operational", b"\x00" + ops)
    write("iscsi_text", "discovery",
          b"\x01" + keys((b"SessionType", b"Discovery"), (b"SendTargets", b"All"),
                         (b"HeaderDigest", b"None")))
    write("iscsi_text", "chap",
          b"\x06" + keys((b"AuthMethod", b"CHAP,None"), (b"CHAP_A", b"7,6,5"),
                         (b"CHAP_N", b"user"), (b"CHAP_R", b"0x" + b"0f" * 16),
                         (b"CHAP_I", b"255"), (b"CHAP_C", b"0bAAECAwQFBgcICQoLDA0ODw==")))
    write("iscsi_text", "irrelevant-and-bad",
          b"\x18" + keys((b"MaxBurstLength", b"0"), (b"FirstBurstLength", b"99999999"),
                         (b"HeaderDigest", b"MD5"), (b"ImmediateData", b"Maybe"),
                         (b"MaxConnections", b"0x10"), (b"X#vendor", b"1")) + b"\0\0")


# ---- SCSI (SPC-4, SSC-4, SMC-3) ---------------------------------------------

CHANGER, DRIVE, EMPTY = 0, 1, 2
DRAIN = 0x40


def cmd(dev, cdb, out=b"", cap=0, second=False, drain=True):
    """One command of fuzz_scsi's input."""
    sel = dev | (DRAIN if drain else 0) | (0x80 if second else 0)
    capf = cap if cap < 0x8000 else 0x8000 | (cap // 32)
    return (bytes([sel, len(cdb)]) + cdb + struct.pack(">H", len(out)) + out +
            struct.pack(">H", capf))


def scsi_seeds():
    res = lambda t, start, n, alloc: bytes([0xB8, 0x10 | t]) + struct.pack(">HH", start, n) + \
        b"\x01" + be24(alloc) + bytes(2)
    s = cmd(CHANGER, bytes([0x12, 0, 0, 0, 96, 0]), cap=96)
    s += cmd(CHANGER, res(0, 0, 100, 4096), cap=4096)
    s += cmd(CHANGER, res(4, 500, 2, 64), cap=64)
    s += cmd(CHANGER, res(2, 1000, 6, 17), cap=17)
    s += cmd(CHANGER, bytes([0x1A, 0x08, 0x1D, 0, 255, 0]), cap=255)
    s += cmd(CHANGER, bytes([0xA5, 0, 0, 1]) + struct.pack(">HH", 1001, 501) + bytes(4))
    s += cmd(CHANGER, bytes([0xA6, 0, 0, 1]) + struct.pack(">HHH", 1002, 1000, 1003) +
             bytes(2))
    s += cmd(CHANGER, bytes([0x1B, 0, 0, 10, 0, 0]))
    s += cmd(CHANGER, bytes([0x07, 0, 0, 0, 0, 0]))
    s += cmd(CHANGER, bytes([0xE7, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
    write("scsi", "changer", s)

    # The loaded drive: reads, positions, writes, MODE SELECT of the
    # data compression page (SSC-4 8.3.2), LOG SELECT, attributes.
    s = cmd(DRIVE, bytes([0x08, 0]) + be24(65536) + b"\0", cap=65536)
    s += cmd(DRIVE, bytes([0x11, 1, 0, 0, 1, 0]))  # SPACE 1 filemark
    s += cmd(DRIVE, bytes([0x34, 0x06]) + bytes(8), cap=32)
    s += cmd(DRIVE, bytes([0x2B, 0, 0, 0, 0, 3]) + bytes(4))  # LOCATE(10) block 3
    s += cmd(DRIVE, bytes([0x92, 0]) + bytes(2) + struct.pack(">Q", 5) + bytes(4))
    s += cmd(DRIVE, bytes([0x0A, 0]) + be24(300) + b"\0", out=bytes(range(256)) + bytes(44))
    s += cmd(DRIVE, bytes([0x10, 1, 0, 0, 2, 0]))
    comp = bytes([0, 0, 0x10, 8]) + bytes([0, 0, 0, 0, 0, 0, 0, 0]) + \
        bytes([0x0F, 14, 0xC0, 0x80, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
    s += cmd(DRIVE, bytes([0x15, 0x10, 0, 0, len(comp), 0]), out=comp)
    s += cmd(DRIVE, bytes([0x1A, 0, 0x0F, 0, 255, 0]), cap=255)
    s += cmd(DRIVE, bytes([0x5A, 0, 0x3F, 0, 0, 0, 0, 0x04, 0, 0]), cap=1024)
    s += cmd(DRIVE, bytes([0x4D, 0, 0x40 | 0x0C, 0, 0, 0, 0, 0x04, 0, 0]), cap=1024)
    s += cmd(DRIVE, bytes([0x4C, 0x02, 0xC0, 0, 0, 0, 0, 0, 0, 0]))
    s += cmd(DRIVE, bytes([0x8C, 0, 0, 0, 0, 0, 0, 0, 0x08, 0]) + struct.pack(">I", 512) + b"\0\0",
             cap=512)
    attr = struct.pack(">I", 13) + struct.pack(">HBH", 0x0800, 1, 8) + b"FUZZTEST"
    s += cmd(DRIVE, bytes([0x8D, 0, 0, 0, 0, 0, 0, 0, 0, 0]) + struct.pack(">I", len(attr)) +
             b"\0\0", out=attr)
    s += cmd(DRIVE, bytes([0x44, 0, 0, 0, 0, 0, 0, 0x04, 0, 0]), cap=1024)
    s += cmd(DRIVE, bytes([0x05, 0, 0, 0, 0, 0]), cap=6)
    s += cmd(DRIVE, bytes([0x03, 0, 0, 0, 252, 0]), cap=252)
    s += cmd(DRIVE, bytes([0x01, 0, 0, 0, 0, 0]))
    write("scsi", "drive", s)

    # Persistent reservations (SPC-4 6.15, 6.16): register, reserve,
    # read, preempt from the second initiator, release.
    def pro(sa, typ, key, sakey):
        plist = struct.pack(">QQ", key, sakey) + bytes(8)
        return bytes([0x5F, sa, typ, 0, 0, 0, 0, 0, len(plist), 0]), plist
    c, p = pro(0, 0, 0, 0x1111)
    s = cmd(DRIVE, c, out=p)
    c, p = pro(0, 0, 0, 0x2222)
    s += cmd(DRIVE, c, out=p, second=True)
    c, p = pro(1, 3, 0x1111, 0)
    s += cmd(DRIVE, c, out=p)
    s += cmd(DRIVE, bytes([0x5E, 0, 0, 0, 0, 0, 0, 0x04, 0, 0]), cap=1024)
    s += cmd(DRIVE, bytes([0x5E, 1, 0, 0, 0, 0, 0, 0x04, 0, 0]), cap=1024)
    s += cmd(DRIVE, bytes([0x5E, 3, 0, 0, 0, 0, 0, 0x04, 0, 0]), cap=1024)
    c, p = pro(4, 3, 0x2222, 0x1111)
    s += cmd(DRIVE, c, out=p, second=True)
    c, p = pro(2, 3, 0x2222, 0)
    s += cmd(DRIVE, c, out=p, second=True)
    s += cmd(DRIVE, bytes([0x16, 0, 0, 0, 0, 0]))
    s += cmd(DRIVE, bytes([0x17, 0, 0, 0, 0, 0]))
    write("scsi", "reservations", s)

    # The empty drive, and identification of every unit.
    s = cmd(EMPTY, bytes([0x00] * 6), drain=False)
    s += cmd(EMPTY, bytes([0x12, 1, 0x00, 0, 255, 0]), cap=255)
    s += cmd(EMPTY, bytes([0x12, 1, 0x80, 0, 255, 0]), cap=255)
    s += cmd(EMPTY, bytes([0x12, 1, 0x83, 0, 255, 0]), cap=255)
    s += cmd(EMPTY, bytes([0xA3, 0x0C, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]), cap=4096)
    s += cmd(EMPTY, bytes([0xA3, 0x0C, 0x01, 0x08, 0, 0, 0, 0, 0x10, 0, 0, 0]), cap=4096)
    s += cmd(EMPTY, bytes([0x1B, 0, 0, 0, 1, 0]))
    s += cmd(EMPTY, bytes([0x1A, 0, 0x3F, 0, 255, 0]), cap=255)
    s += cmd(CHANGER, bytes([0xA0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]), cap=256)
    s += cmd(EMPTY, bytes([0x3C, 0x03, 0, 0, 0, 0, 0, 0, 4, 0]), cap=4)
    write("scsi", "empty-drive", s)


# ---- Control requests (docs/library.md, "Control protocol") -----------------

def ctl_seeds():
    lines = [
        '{"op": "hello"}',
        '{"op": "tape.list"}',
        '{"op": "tape.list", "state": "AVAILABLE"}',
        '{"op": "tape.show", "barcode": "FZA002L8"}',
        '{"op": "library.show"}',
        '{"op": "status"}',
        '{"op": "events", "barcode": "FZA001L8", "limit": 5}',
    ]
    write("ctl", "read-only", ("\n".join(lines) + "\n").encode())
    lines = [
        '{"op": "tape.create", "barcodes": ["NEW001L8", "NEW002L7"]}',
        '{"op": "tape.create", "prefix": "FZC", "count": 3, "type": "LTO-9", "size": 1048576}',
        '{"op": "tape.move", "barcode": "NEW001L8", "to": "drive:2"}',
        '{"op": "drive.unload", "drive": 2}',
        '{"op": "tape.move", "barcode": "NEW002L7", "to": "ie:1"}',
        '{"op": "tape.archive", "barcode": "NEW002L7", "wait": true}',
        '{"op": "tape.retrieve", "barcode": "NEW002L7"}',
        '{"op": "tape.delete", "barcode": "NEW001L8", "force": true}',
        '{"op": "tape.move", "barcode": "FZA001L8", "to": "slot:1"}',
    ]
    write("ctl", "changes", ("\n".join(lines) + "\n").encode())
    lines = [
        '{"op": "catalog.rebuild"}',
        '{"op": "catalog.rebuild.status", "id": 1}',
        '{"op": "tape.move", "barcode": "FZA003L7"}',
        '{"op": "drive.unload", "drive": 0}',
        '{"op": "nosuchop", "barcode": "x"}',
        '[1, 2, 3]',
        '{"op": "tape.create", "barcodes": ["bad barcode", "FZA002L8"]}',
    ]
    write("ctl", "refusals", ("\n".join(lines) + "\n").encode())


# ---- vtld.conf (docs/library.md, README "Configuration") ---------------------

def config_seeds():
    write("config", "full", b"""# vtld.conf
[vtld]
data_dir = /var/lib/vtl
listen = 0.0.0.0:3260
socket = /run/vtl/vtld.sock
log_level = info

[library]
vendor = STK
product = L700
revision = 0104
serial = FUZZ0001
drives = 4
slots = 40
ie_slots = 4
transport_address = 1
ie_address = 10
drive_address = 500
storage_address = 1000
drive_type = LTO-8
drive_vendor = IBM
auto_unload = yes

[tapes]
default_type = LTO-8

[iscsi]
iqn = iqn.2026-11.org.example:vtl
alias = vtl
chap_user = user
chap_secret = secret123456
mutual_user = target
mutual_secret = tsecret123456
allow = iqn.1993-08.org.debian:01:abc, iqn.1991-05.com.microsoft:host
nop_interval = 15
nop_timeout = 30
max_recv_data_segment = 262144
max_burst = 16776192
first_burst = 262144

[tcmu]
enable = no
library = vtl
""")
    write("config", "store-s3", b"""[store]
type = s3
endpoint = https://s3.eu-west-1.amazonaws.com
bucket = my-vtl
region = eu-west-1
prefix = vtl/
addressing = virtual
profile = backup
ca_bundle = /etc/ssl/certs/ca-certificates.crt
part_size = 64M
parallel_parts = 4
upload_nice = 10
archive_storage_class = DEEP_ARCHIVE
archive_bucket = my-vtl-shelf
archive_prefix = shelf/
restore_days = 7
restore_tier = Bulk
cache_limit = 100G
idle_complete = 60
""")
    write("config", "store-local", b"""[store]
type = local
path = /srv/vtl-store
archive_path = /srv/vtl-shelf
part_size = 5M
cache_limit = 0
""")
    write("config", "errors", b"""[library]
drives = 0x10
slots = 99999
[nosuch]
key = value
[store]
part_size = 1K
""")


# ---- S3 answers (Amazon S3 API Reference) ------------------------------------

XMLNS = b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
DECL = b'<?xml version="1.0" encoding="UTF-8"?>\n'

LIST_V2 = DECL + b"<ListBucketResult " + XMLNS + b""">
  <Name>fuzz-bucket</Name>
  <Prefix>tapes/</Prefix>
  <KeyCount>3</KeyCount>
  <MaxKeys>1000</MaxKeys>
  <Delimiter>/</Delimiter>
  <IsTruncated>true</IsTruncated>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
  <Contents>
    <Key>tapes/FZA001L8/manifest/0000000000000003</Key>
    <LastModified>2009-10-12T17:50:30.000Z</LastModified>
    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>
    <Size>434234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>tapes/FZA001L8/seg/0000000000000001</Key>
    <LastModified>2009-10-12T17:50:31.000Z</LastModified>
    <ETag>"d41d8cd98f00b204e9800998ecf8427e-2"</ETag>
    <Size>10485760</Size>
    <StorageClass>GLACIER</StorageClass>
  </Contents>
  <CommonPrefixes><Prefix>tapes/FZA002L8/</Prefix></CommonPrefixes>
</ListBucketResult>"""

LIST_PARTS = DECL + b"<ListPartsResult " + XMLNS + b""">
  <Bucket>fuzz-bucket</Bucket>
  <Key>tapes/FZA001L8/seg/0000000000000001</Key>
  <UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyVcdS1tb3ZpZS5tMnRzEEEwbG9hZA</UploadId>
  <PartNumberMarker>1</PartNumberMarker>
  <NextPartNumberMarker>3</NextPartNumberMarker>
  <MaxParts>2</MaxParts>
  <IsTruncated>true</IsTruncated>
  <Part>
    <PartNumber>2</PartNumber>
    <LastModified>2010-11-10T20:48:34.000Z</LastModified>
    <ETag>"7778aef83f66abc1fa1e8477f296d394"</ETag>
    <Size>10485760</Size>
  </Part>
  <Part>
    <PartNumber>3</PartNumber>
    <LastModified>2010-11-10T20:48:33.000Z</LastModified>
    <ETag>"aaaa18db4cc2f85cedef654fccc4a4x8"</ETag>
    <Size>10485760</Size>
  </Part>
</ListPartsResult>"""

LIST_UPLOADS = DECL + b"<ListMultipartUploadsResult " + XMLNS + b""">
  <Bucket>fuzz-bucket</Bucket>
  <KeyMarker></KeyMarker>
  <UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>tapes/FZA001L8/seg/0000000000000002</NextKeyMarker>
  <NextUploadIdMarker>QpMTE5OVBNUDA5MjNDSVpJS0lOR0RURU5UUjcwNjUyMjg4MQ</NextUploadIdMarker>
  <MaxUploads>3</MaxUploads>
  <IsTruncated>true</IsTruncated>
  <Upload>
    <Key>tapes/FZA001L8/seg/0000000000000001</Key>
    <UploadId>XMgbGlrZSBlbHZpbmcncyBub3QgaGF2aW5nIG11Y2ggbHVjaw</UploadId>
    <Initiator><ID>arn:aws:iam::111122223333:user/user1</ID><DisplayName>user1</DisplayName></Initiator>
    <Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner>
    <StorageClass>STANDARD</StorageClass>
    <Initiated>2010-11-10T20:48:33.000Z</Initiated>
  </Upload>
  <Upload>
    <Key>tapes/FZA001L8/seg/0000000000000002</Key>
    <UploadId>QpMTE5OVBNUDA5MjNDSVpJS0lOR0RURU5UUjcwNjUyMjg4MQ</UploadId>
    <StorageClass>GLACIER</StorageClass>
    <Initiated>2010-11-10T20:49:33.000Z</Initiated>
  </Upload>
</ListMultipartUploadsResult>"""

INITIATE = DECL + b"<InitiateMultipartUploadResult " + XMLNS + b""">
  <Bucket>fuzz-bucket</Bucket>
  <Key>tapes/FZA001L8/seg/0000000000000001</Key>
  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>"""

COPY = DECL + b"""<CopyObjectResult>
  <LastModified>2009-10-12T17:50:30.000Z</LastModified>
  <ETag>"9b2cf535f27731c974343645a3985328"</ETag>
</CopyObjectResult>"""

COPY_PART = DECL + b"""<CopyPartResult>
  <LastModified>2009-10-28T22:32:00.000Z</LastModified>
  <ETag>"9b2cf535f27731c974343645a3985328"</ETag>
</CopyPartResult>"""

COMPLETE = DECL + b"<CompleteMultipartUploadResult " + XMLNS + b""">
  <Location>http://fuzz-bucket.s3.amazonaws.com/tapes/FZA001L8/seg/0000000000000001</Location>
  <Bucket>fuzz-bucket</Bucket>
  <Key>tapes/FZA001L8/seg/0000000000000001</Key>
  <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>
</CompleteMultipartUploadResult>"""

ERR_NOKEY = DECL + b"""<Error>
  <Code>NoSuchKey</Code>
  <Message>The resource you requested does not exist</Message>
  <Resource>/fuzz-bucket/tapes/FZA001L8/state</Resource>
  <RequestId>4442587FB7D0A2F9</RequestId>
</Error>"""

ERR_200 = DECL + b"""<Error>
  <Code>InternalError</Code>
  <Message>We encountered an internal error. Please try again.</Message>
  <RequestId>656c76696e6727732072657175657374</RequestId>
  <HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>
</Error>"""

ERR_SLOW = DECL + b"""<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message>
<RequestId>A1B2C3D4</RequestId><HostId>host</HostId></Error>"""

ODD = DECL + b"""<!-- comment --><ListBucketResult><IsTruncated>false</IsTruncated>
<Contents><Key><![CDATA[tapes/A&B<C>/x]]></Key><ETag>&#x22;abc&#34;</ETag>
<Size>0</Size><StorageClass/></Contents><s3:Contents><s3:Key>tapes/&amp;&lt;&gt;&apos;</s3:Key>
</s3:Contents></ListBucketResult>"""


LOCK_CONFIG = DECL + b"<ObjectLockConfiguration " + XMLNS + b""">
  <ObjectLockEnabled>Enabled</ObjectLockEnabled>
</ObjectLockConfiguration>"""

RETENTION = DECL + b"<Retention " + XMLNS + b""">
  <Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00.000Z</RetainUntilDate>
</Retention>"""

ERR_LOCKED = DECL + b"""<Error><Code>AccessDenied</Code><Message>forbidden by object lock</Message>
<RequestId>tx0000000000000000001-00</RequestId></Error>"""


def s3_response(op, status, headers, body):
    h = b"\n".join(headers)
    return bytes([op]) + struct.pack(">H", status) + bytes([len(h)]) + h + body


def s3_seeds():
    for name, doc in [("list", LIST_V2), ("list-parts", LIST_PARTS),
                      ("list-uploads", LIST_UPLOADS), ("initiate", INITIATE),
                      ("copy", COPY), ("copy-part", COPY_PART), ("complete", COMPLETE),
                      ("error", ERR_NOKEY), ("odd", ODD), ("lock-config", LOCK_CONFIG),
                      ("retention", RETENTION)]:
        write("s3_xml", name, doc)
    rid = b"x-amz-request-id: 4442587FB7D0A2F9"
    etag = b'ETag: "fba9dede5f27731c9771645a39863328"'
    write("s3_response", "list", s3_response(0x10, 200, [rid], LIST_V2))
    write("s3_response", "list-parts", s3_response(1, 200, [rid], LIST_PARTS))
    write("s3_response", "list-uploads", s3_response(2, 200, [rid], LIST_UPLOADS))
    write("s3_response", "initiate", s3_response(3, 200, [rid], INITIATE))
    write("s3_response", "copy", s3_response(4, 200, [rid], COPY))
    write("s3_response", "copy-error-in-200", s3_response(0x14, 200, [rid], ERR_200))
    write("s3_response", "complete", s3_response(5, 200, [rid], COMPLETE))
    write("s3_response", "head", s3_response(6, 200, [
        rid, etag, b"Last-Modified: Wed, 12 Oct 2009 17:50:00 GMT",
        b"x-amz-storage-class: GLACIER",
        b'x-amz-restore: ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"'],
        b"0123456789"))
    write("s3_response", "get-range", s3_response(0x27, 206, [
        rid, etag, b"Content-Range: bytes 5-41/100"], bytes(range(37))))
    write("s3_response", "get-whole", s3_response(0xA7, 200, [rid, etag], bytes(range(100))))
    write("s3_response", "put", s3_response(8, 200, [rid, etag], b""))
    write("s3_response", "restore", s3_response(9, 202, [rid], b""))
    write("s3_response", "copy-part", s3_response(10, 200, [rid], COPY_PART))
    write("s3_response", "delete", s3_response(11, 204, [rid], b""))
    write("s3_response", "no-such-key", s3_response(6, 404, [rid], ERR_NOKEY))
    write("s3_response", "slow-down", s3_response(8, 503, [rid], ERR_SLOW))
    write("s3_response", "lock-config", s3_response(0x0F, 200, [rid], LOCK_CONFIG))
    write("s3_response", "retention", s3_response(0x5F, 200, [rid], RETENTION))
    write("s3_response", "set-retention", s3_response(0x2F, 200, [rid], b""))
    write("s3_response", "delete-locked", s3_response(0x7F, 403, [rid], ERR_LOCKED))
    write("s3_response", "head-locked", s3_response(6, 200, [
        rid, etag, b"x-amz-version-id: 3sL4kqtJlcpXroDTDmJ-rmSpXd3dIbrH",
        b"x-amz-object-lock-mode: GOVERNANCE",
        b"x-amz-object-lock-retain-until-date: 2030-01-01T00:00:00.000Z"], b""))
    write("s3_response", "forbidden", s3_response(12, 403, [rid], DECL + b"""<Error>
<Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not
match the signature you provided.</Message><RequestId>1</RequestId></Error>"""))


# ---- Damaged media (fuzz_tape, fuzz_tape_rest) ------------------------------

def tape_edit(what, file_index, offset, extra=b""):
    return bytes([what, file_index]) + struct.pack(">I", offset) + extra


def tape_seeds():
    steer = bytes([0xFF]) + b"".join(bytes([op]) + struct.pack(">I", v)
                                     for op, v in [(0, 7), (1, 3), (2, 0xFFFFFFFF),
                                                   (3, 40000), (4, 0), (5, 0), (6, 101)])
    # The same damage to a clear cartridge (fuzz_tape) and to one encrypted
    # at rest (fuzz_tape_rest): their files have the same names.
    for target in ("tape", "tape_rest"):
        write(target, "intact", steer)
        # Files in name order: MANIFEST first, then seg-<id>.dat and .idx.
        write(target, "manifest-bit", tape_edit(0, 0, 40, b"\x10") + steer)
        write(target, "torn-tail", tape_edit(2, 9, 2000) + steer)
        write(target, "lost-index", tape_edit(3, 2, 0) + steer)
        write(target, "garbage-record", tape_edit(1, 3, 64, bytes([8]) + b"\xff" * 8) + steer)
        write(target, "appended", tape_edit(4, 5, 0, bytes([32]) + bytes(range(32))) + steer)
        write(target, "length-field", tape_edit(5, 1, 8, struct.pack(">I", 0x7FFFFFF0)) + steer)

if __name__ == "__main__":
    iscsi_seeds()
    iscsi_text_seeds()
    scsi_seeds()
    ctl_seeds()
    config_seeds()
    s3_seeds()
    tape_seeds()
