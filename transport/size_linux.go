package transport

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// blockDeviceSize asks the kernel for the size in bytes of the block device
// f is open on.
func blockDeviceSize(f *os.File) (int64, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var size uint64
	var errno unix.Errno
	cerr := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size)))
	})
	if cerr != nil {
		return 0, cerr
	}
	if errno != 0 {
		return 0, os.NewSyscallError("ioctl BLKGETSIZE64", errno)
	}
	return int64(size), nil
}
