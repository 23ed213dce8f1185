// Runs a test program (host_tool.cpp, unit_tests.cpp) built for the Cortex-M4F on qemu's
// mps2-an386 board: the vector table, the reset handler, and newlib's system calls made with
// ARM semihosting (qemu-system-arm -semihosting-config enable=on,target=native). Memory map:
// qemu_m4.ld.
//
// The program's arguments are the ones qemu is given (-semihosting-config arg=...), split at
// spaces. Its stdin, stdout and stderr are qemu's own (the host files /dev/stdin, /dev/stdout,
// /dev/stderr, opened again: pipes, as the tests give, or files of their own), so they carry any
// bytes and the end of input. qemu exits with the program's exit status, and with kFaultStatus
// (and "cortex-m4: fault" on stderr) after a fault.
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
int main(int argc, char** argv);
void __libc_init_array();
// From qemu_m4.ld.
extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[];
extern char __heap_start[], __heap_end[], __stack_top[];
}

namespace {

// ARM semihosting operations ("Semihosting for AArch32 and AArch64", ARM).
constexpr uint32_t kOpen = 0x01;
constexpr uint32_t kWrite = 0x05;
constexpr uint32_t kRead = 0x06;
constexpr uint32_t kGetCommandLine = 0x15;
constexpr uint32_t kExitExtended = 0x20;  // an exit that carries the exit status
constexpr uint32_t kApplicationExit = 0x20026;
constexpr uint32_t kModeReadBinary = 1;    // fopen's "rb"
constexpr uint32_t kModeAppendBinary = 9;  // fopen's "ab"

constexpr int kFaultStatus = 70;
constexpr int kMaxArguments = 16;

uint32_t semihost(uint32_t operation, const void* block) {
  register uint32_t r0 asm("r0") = operation;
  register const void* r1 asm("r1") = block;
  asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

// The host's handle of file descriptor 0, 1 or 2, opened on first use; -1 for others.
int32_t host_handle(int fd) {
  static const char* const kPaths[] = {"/dev/stdin", "/dev/stdout", "/dev/stderr"};
  static int32_t handles[] = {-1, -1, -1};
  if (fd < 0 || fd > 2) return -1;
  if (handles[fd] < 0) {
    const uint32_t block[] = {reinterpret_cast<uint32_t>(kPaths[fd]),
                              fd == 0 ? kModeReadBinary : kModeAppendBinary, strlen(kPaths[fd])};
    handles[fd] = static_cast<int32_t>(semihost(kOpen, block));
  }
  return handles[fd];
}

// A read or write of `count` bytes on `fd`: the bytes moved, or -1.
int transfer(uint32_t operation, int fd, const void* data, int count) {
  const int32_t handle = host_handle(fd);
  if (handle < 0) {
    errno = EBADF;
    return -1;
  }
  const uint32_t block[] = {static_cast<uint32_t>(handle), reinterpret_cast<uint32_t>(data),
                            static_cast<uint32_t>(count)};
  const uint32_t left = semihost(operation, block);  // the bytes not moved
  return left > static_cast<uint32_t>(count) ? -1 : count - static_cast<int>(left);
}

[[noreturn]] void fault_handler() {
  static const char kMessage[] = "cortex-m4: fault\n";
  transfer(kWrite, 2, kMessage, sizeof(kMessage) - 1);
  _Exit(kFaultStatus);
}

// argv from the command line qemu was given, split at spaces.
int arguments(char** argv) {
  static char line[256];
  uint32_t block[] = {reinterpret_cast<uint32_t>(line), sizeof(line) - 1};
  if (semihost(kGetCommandLine, block) != 0) return 0;
  line[block[1]] = '\0';
  int argc = 0;
  for (char* word = strtok(line, " "); word && argc < kMaxArguments; word = strtok(nullptr, " ")) {
    argv[argc++] = word;
  }
  argv[argc] = nullptr;
  return argc;
}

}  // namespace

extern "C" {

[[noreturn]] void reset_handler() {
  // Grant access to the FPU (CPACR: CP10 and CP11 full access): hard-float code traps without it.
  volatile uint32_t* const cpacr = reinterpret_cast<volatile uint32_t*>(0xE000ED88);
  *cpacr |= 0xFu << 20;
  asm volatile("dsb\n\tisb" ::: "memory");
  memcpy(__data_start, __data_load,
         reinterpret_cast<char*>(__data_end) - reinterpret_cast<char*>(__data_start));
  memset(__bss_start, 0,
         reinterpret_cast<char*>(__bss_end) - reinterpret_cast<char*>(__bss_start));
  __libc_init_array();
  static char* argv[kMaxArguments + 1];
  const int argc = arguments(argv);
  exit(main(argc, argv));
}

// The initial stack pointer, then the reset handler and the core's fault exceptions (the tests
// enable no interrupts).
__attribute__((section(".vectors"), used)) void (*const vectors[16])() = {
    reinterpret_cast<void (*)()>(__stack_top),
    reset_handler,
    fault_handler,  // NMI
    fault_handler,  // HardFault
    fault_handler,  // MemManage
    fault_handler,  // BusFault
    fault_handler,  // UsageFault
};

// newlib's system calls.
int _read(int fd, char* data, int count) { return transfer(kRead, fd, data, count); }
int _write(int fd, const char* data, int count) { return transfer(kWrite, fd, data, count); }
int _close(int) { return 0; }
int _fstat(int, void*) { return -1; }  // unknown: stdio buffers whole blocks
int _isatty(int) { return 0; }
int _lseek(int, int, int) { return -1; }
int _getpid() { return 1; }
int _kill(int, int) { return -1; }

[[noreturn]] void _exit(int status) {
  const uint32_t block[] = {kApplicationExit, static_cast<uint32_t>(status)};
  semihost(kExitExtended, block);
  while (true) {
  }
}

void* _sbrk(ptrdiff_t increment) {
  static char* top = __heap_start;
  if (increment > __heap_end - top) {
    errno = ENOMEM;
    return reinterpret_cast<void*>(-1);
  }
  char* const start = top;
  top += increment;
  return start;
}

// What the compiler's start files (crti.o, crtbegin.o), not linked here, would give:
// __libc_init_array and exit call _init and _fini, and static destructors name __dso_handle.
void _init() {}
void _fini() {}
void* __dso_handle = nullptr;

}  // extern "C"
