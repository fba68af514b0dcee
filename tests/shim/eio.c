/* eio.c - an LD_PRELOAD shim for test_storage: while the file named by
 * ESC_EIO_FLAG exists, writes and syncs of the files under the directory
 * ESC_EIO_DIR fail with EIO, as a failing disk's would. The flag file
 * holds what fails: "sync" (fsync and fdatasync only) or anything else
 * (writes and syncs). Each failure appends a byte to ESC_EIO_FLAG's
 * ".count" file, so the test knows how many it injected. Other files (the
 * log, sockets) are left alone, and without both variables the shim
 * changes nothing. */
/* pwrite and pwrite64 are two symbols here: the build's 64-bit file
 * offsets would make them one. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);
typedef ssize_t (*pwrite64_fn)(int, const void *, size_t, off64_t);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef int (*sync_fn)(int);

enum what { WRITES, SYNCS };

static write_fn real_write(void)
{
	static write_fn fn;
	if (!fn)
		fn = (write_fn)dlsym(RTLD_NEXT, "write");
	return fn;
}

/* Whether this call on fd fails now; counts it when it does. */
static bool failing(int fd, enum what what)
{
	const char *flag = getenv("ESC_EIO_FLAG");
	const char *dir = getenv("ESC_EIO_DIR");
	char link[64], path[4096], mode[16] = "";
	int saved = errno, f = -1;
	bool fail = false;
	ssize_t n = 0;
	size_t len = 0;

	if (!flag || !dir || !*dir)
		goto out;
	f = open(flag, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		goto out;
	n = read(f, mode, sizeof mode - 1);
	close(f);
	mode[n > 0 ? n : 0] = '\0';
	if (what == WRITES && !strncmp(mode, "sync", 4))
		goto out;
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof path - 1);
	if (n <= 0)
		goto out;
	path[n] = '\0';
	len = strlen(dir);
	fail = !strncmp(path, dir, len) && path[len] == '/';
	if (fail) {
		snprintf(path, sizeof path, "%s.count", flag);
		f = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (f >= 0) {
			(void)real_write()(f, "x", 1);
			close(f);
		}
	}
out:
	errno = saved;
	return fail;
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	static pwrite64_fn real;
	if (!real)
		real = (pwrite64_fn)dlsym(RTLD_NEXT, "pwrite64");
	if (failing(fd, WRITES)) {
		errno = EIO;
		return -1;
	}
	return real(fd, buf, n, off);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	static pwrite_fn real;
	if (!real)
		real = (pwrite_fn)dlsym(RTLD_NEXT, "pwrite");
	if (failing(fd, WRITES)) {
		errno = EIO;
		return -1;
	}
	return real(fd, buf, n, off);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (failing(fd, WRITES)) {
		errno = EIO;
		return -1;
	}
	return real_write()(fd, buf, n);
}

int fsync(int fd)
{
	static sync_fn real;
	if (!real)
		real = (sync_fn)dlsym(RTLD_NEXT, "fsync");
	if (failing(fd, SYNCS)) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}

int fdatasync(int fd)
{
	static sync_fn real;
	if (!real)
		real = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
	if (failing(fd, SYNCS)) {
		errno = EIO;
		return -1;
	}
	return real(fd);
}
