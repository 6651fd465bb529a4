//! A WASI preview-1 command in Zig (`zig build-exe -target wasm32-wasi`)
//! for the suite: what the params ask of it, by a word in them ("loop",
//! "alloc", "fail", "env", "file"), else an echo. It calls WASI directly,
//! which keeps it apart from the churn of Zig's std I/O API.
const std = @import("std");
const wasi = std.os.wasi;

var input: [65536]u8 = undefined;
var env_ptrs: [256][*:0]u8 = undefined;
var env_buf: [65536]u8 = undefined;

fn write(fd: wasi.fd_t, bytes: []const u8) void {
    const iov = [_]wasi.ciovec_t{.{ .base = bytes.ptr, .len = bytes.len }};
    var written: usize = 0;
    _ = wasi.fd_write(fd, &iov, 1, &written);
}

fn has(text: []const u8, word: []const u8) bool {
    return std.mem.indexOf(u8, text, word) != null;
}

pub fn main() void {
    var len: usize = 0;
    while (len < input.len) {
        const iov = [_]wasi.iovec_t{.{ .base = input[len..].ptr, .len = input.len - len }};
        var got: usize = 0;
        if (wasi.fd_read(0, &iov, 1, &got) != .SUCCESS or got == 0) break;
        len += got;
    }
    const params = input[0..len];
    if (has(params, "\"loop\"")) {
        var i: u64 = 0;
        while (true) {
            i +%= 1;
            std.mem.doNotOptimizeAway(i);
        }
    } else if (has(params, "\"alloc\"")) {
        // 200 MiB in 64 KiB pages.
        if (@wasmMemoryGrow(0, 3200) < 0) {
            write(2, "probe: out of memory\n");
            @trap();
        }
        write(1, "{\"allocated_mb\":200}");
    } else if (has(params, "\"fail\"")) {
        write(2, "probe: failing as asked\n");
        wasi.proc_exit(3);
    } else if (has(params, "\"env\"")) {
        var count: usize = 0;
        var size: usize = 0;
        _ = wasi.environ_sizes_get(&count, &size);
        write(1, "{\"env\":[");
        if (count <= env_ptrs.len and size <= env_buf.len and wasi.environ_get(&env_ptrs, &env_buf) == .SUCCESS) {
            for (env_ptrs[0..count], 0..) |entry, i| {
                const text = std.mem.span(entry);
                const name = text[0 .. std.mem.indexOfScalar(u8, text, '=') orelse text.len];
                if (i > 0) write(1, ",");
                write(1, "\"");
                write(1, name);
                write(1, "\"");
            }
        }
        write(1, "]}");
    } else if (has(params, "\"file\"")) {
        // The first pre-opened directory would be descriptor 3: there is none.
        var fd: wasi.fd_t = 0;
        const opened = wasi.path_open(3, .{}, "etc/passwd", 10, .{}, .{ .FD_READ = true }, .{}, .{}, &fd);
        write(1, if (opened == .SUCCESS) "{\"file\":\"opened\"}" else "{\"file\":\"refused\"}");
    } else {
        write(1, "{\"echo\":");
        write(1, params);
        write(1, "}");
    }
}
