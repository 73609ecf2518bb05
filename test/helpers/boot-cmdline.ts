// The kernel command line of boot tests that exercise devices rather than the CPU. The
// crypto self-tests are about half of a stock kernel's boot on the software CPU and test
// nothing a device test cares about; the CPU acceptance test keeps them.
export const DEVICE_TEST_APPEND = 'console=ttyAMA0 cryptomgr.notests';
export const DEVICE_TEST_CMDLINE = DEVICE_TEST_APPEND;
