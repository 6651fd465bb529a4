//! Counts the letters, digits and other bytes of the params: a plain Zig
//! program for WASI preview 1. The params arrive on stdin (and in
//! `TASKBOX_PARAMS`); what it prints is the result. It calls WASI directly
//! (`std.os.wasi`), which stays the same across Zig releases.
//!
//! Build: zig build-exe -target wasm32-wasi -O ReleaseSmall count_zig.zig
const std = @import("std");
const wasi = std.os.wasi;

pub fn main() void {
    var letters: usize = 0;
    var digits: usize = 0;
    var other: usize = 0;
    var buf: [4096]u8 = undefined;
    while (true) {
        const iov = [_]wasi.iovec_t{.{ .base = &buf, .len = buf.len }};
        var got: usize = 0;
        if (wasi.fd_read(0, &iov, 1, &got) != .SUCCESS or got == 0) break;
        for (buf[0..got]) |byte| {
            if (std.ascii.isAlphabetic(byte)) {
                letters += 1;
            } else if (std.ascii.isDigit(byte)) {
                digits += 1;
            } else {
                other += 1;
            }
        }
    }
    var out: [128]u8 = undefined;
    const text = std.fmt.bufPrint(&out, "{{\"letters\": {d}, \"digits\": {d}, \"other\": {d}}}\n", .{ letters, digits, other }) catch unreachable;
    const iov = [_]wasi.ciovec_t{.{ .base = text.ptr, .len = text.len }};
    var written: usize = 0;
    _ = wasi.fd_write(1, &iov, 1, &written);
}
