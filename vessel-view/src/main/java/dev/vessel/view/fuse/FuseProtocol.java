package dev.vessel.view.fuse;

/**
 * Numbers of the kernel's FUSE protocol that this server uses: opcodes, flags and the byte
 * offsets of struct fields, all from linux/fuse.h (protocol 7.38, plus the passthrough parts of
 * 7.40, which older installed headers lack; x86-64 and arm64 layouts agree).
 */
final class FuseProtocol {
    private FuseProtocol() {}

    static final int KERNEL_VERSION = 7;
    static final int KERNEL_MINOR_VERSION = 38;

    // enum fuse_opcode
    static final int LOOKUP = 1, FORGET = 2, GETATTR = 3, SETATTR = 4, READLINK = 5, SYMLINK = 6,
            MKNOD = 8, MKDIR = 9, UNLINK = 10, RMDIR = 11, RENAME = 12, LINK = 13, OPEN = 14, READ = 15,
            WRITE = 16, STATFS = 17, RELEASE = 18, FSYNC = 20, SETXATTR = 21, GETXATTR = 22,
            LISTXATTR = 23, REMOVEXATTR = 24, FLUSH = 25, INIT = 26, OPENDIR = 27, READDIR = 28,
            RELEASEDIR = 29, FSYNCDIR = 30, ACCESS = 34, CREATE = 35, INTERRUPT = 36, DESTROY = 38,
            NOTIFY_REPLY = 41, BATCH_FORGET = 42, FALLOCATE = 43, READDIRPLUS = 44, RENAME2 = 45,
            COPY_FILE_RANGE = 47, TMPFILE = 51;

    // enum fuse_notify_code: sent in fuse_out_header.error with unique 0
    static final int NOTIFY_RESEND = 7; // kernel 6.9+: re-queue requests a dead daemon had read

    // INIT flags
    static final int FUSE_ASYNC_READ = 1;
    static final int FUSE_AUTO_INVAL_DATA = 1 << 12;
    static final int FUSE_PARALLEL_DIROPS = 1 << 18;
    static final int FUSE_MAX_PAGES = 1 << 22;
    static final int FUSE_INIT_EXT = 1 << 30; // flags2 is valid
    // INIT flags2 (bits 32..63 of the flags, shifted down)
    static final int FUSE2_PASSTHROUGH = 1 << (37 - 32); // 7.40, kernel 6.9+

    static final int FOPEN_DIRECT_IO = 1;
    static final int FOPEN_PASSTHROUGH = 1 << 7; // 7.40: read/splice/mmap go to fuse_open_out.backing_id

    // Device ioctls (7.40): _IOW(229, 1, struct fuse_backing_map) and _IOW(229, 2, uint32_t)
    static final long DEV_IOC_BACKING_OPEN = 0x4010E501L;
    static final long DEV_IOC_BACKING_CLOSE = 0x4004E502L;
    // struct fuse_backing_map (16 bytes): int32 fd, uint32 flags, uint64 padding
    static final int BACKING_MAP_FD = 0, BACKING_MAP_SIZE = 16;

    static final int S_IFDIR = 0040000, S_IFREG = 0100000;
    static final int DT_DIR = 4, DT_REG = 8;

    // struct fuse_in_header (40 bytes)
    static final int IN_LEN = 0, IN_OPCODE = 4, IN_UNIQUE = 8, IN_NODEID = 16, IN_UID = 24, IN_GID = 28,
            IN_PID = 32;
    static final int IN_HEADER_SIZE = 40;

    // struct fuse_out_header (16 bytes)
    static final int OUT_LEN = 0, OUT_ERROR = 4, OUT_UNIQUE = 8;
    static final int OUT_HEADER_SIZE = 16;

    // struct fuse_attr (88 bytes), relative to its start
    static final int ATTR_INO = 0, ATTR_SIZE = 8, ATTR_BLOCKS = 16, ATTR_ATIME = 24, ATTR_MTIME = 32,
            ATTR_CTIME = 40, ATTR_MTIMENSEC = 52, ATTR_MODE = 60, ATTR_NLINK = 64, ATTR_UID = 68, ATTR_GID = 72, ATTR_BLKSIZE = 80;
    static final int ATTR_SIZEOF = 88;

    // struct fuse_entry_out (128 bytes)
    static final int ENTRY_NODEID = 0, ENTRY_GENERATION = 8, ENTRY_VALID = 16, ENTRY_ATTR_VALID = 24,
            ENTRY_VALID_NSEC = 32, ENTRY_ATTR_VALID_NSEC = 36, ENTRY_ATTR = 40;
    static final int ENTRY_OUT_SIZE = 128;

    // struct fuse_attr_out (104 bytes)
    static final int ATTR_OUT_VALID = 0, ATTR_OUT_VALID_NSEC = 8, ATTR_OUT_ATTR = 16;
    static final int ATTR_OUT_SIZE = 104;

    // struct fuse_open_in / fuse_open_out
    static final int OPEN_IN_FLAGS = 0;
    static final int OPEN_OUT_FH = 0, OPEN_OUT_FLAGS = 8, OPEN_OUT_BACKING_ID = 12;
    static final int OPEN_OUT_SIZE = 16;

    // struct fuse_read_in (fh, offset, size, ...); fuse_release_in starts with fh too
    static final int READ_IN_FH = 0, READ_IN_OFFSET = 8, READ_IN_SIZE = 16;

    // struct fuse_access_in
    static final int ACCESS_IN_MASK = 0;

    // struct fuse_init_in / fuse_init_out (64 bytes since 7.23)
    static final int INIT_IN_MAJOR = 0, INIT_IN_MINOR = 4, INIT_IN_MAX_READAHEAD = 8, INIT_IN_FLAGS = 12,
            INIT_IN_FLAGS2 = 16;
    static final int INIT_OUT_MAJOR = 0, INIT_OUT_MINOR = 4, INIT_OUT_MAX_READAHEAD = 8, INIT_OUT_FLAGS = 12,
            INIT_OUT_MAX_BACKGROUND = 16, INIT_OUT_CONGESTION_THRESHOLD = 18, INIT_OUT_MAX_WRITE = 20,
            INIT_OUT_TIME_GRAN = 24, INIT_OUT_MAX_PAGES = 28, INIT_OUT_FLAGS2 = 32, INIT_OUT_MAX_STACK_DEPTH = 36;
    static final int INIT_OUT_SIZE = 64;

    // struct fuse_kstatfs inside fuse_statfs_out (80 bytes)
    static final int STATFS_BSIZE = 40, STATFS_NAMELEN = 44, STATFS_FRSIZE = 48;
    static final int STATFS_OUT_SIZE = 80;

    // struct fuse_dirent: ino, off, namelen, type, name[] padded to 8 bytes
    static final int DIRENT_INO = 0, DIRENT_OFF = 8, DIRENT_NAMELEN = 16, DIRENT_TYPE = 20, DIRENT_NAME = 24;

    static final int W_OK = 2;
}
