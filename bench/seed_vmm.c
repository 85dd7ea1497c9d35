/*
 * seed_vmm.c: the benchmark's yardstick, a seed-style minimal KVM VMM in C (not the product).
 *
 * Real mode, a flat binary loaded (and entered) at 0x1000, 2 MiB of RAM. Port 0x3f8 (UART THR)
 * goes to stdout; port 0x500 is the seed's hypercall port: AL = function, and like the seed's
 * handler it calls KVM_GET_REGS on every hypercall to read BX:
 *   0 exit with status BX, 1 putchar BL, 2 putnum BX (decimal), 3 newline.
 * HLT ends the run with status 0. At the end it prints, to stderr, one line:
 *   seed_vmm: exits=N loop_us=T us_per_exit=X status=S
 * where T times the run loop alone (first KVM_RUN to the last exit), as vmm's guest_wall_s does.
 *
 * usage: seed_vmm IMAGE.bin
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE (2u << 20)
#define LOAD_ADDR 0x1000u
#define UART_PORT 0x3f8
#define HC_PORT 0x500

static void die(const char *what)
{
    fprintf(stderr, "seed_vmm: %s: %s\n", what, strerror(errno));
    exit(125);
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s IMAGE.bin\n", argv[0]);
        return 2;
    }
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0)
        die("open /dev/kvm");
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        die("KVM_CREATE_VM");
    uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        die("mmap guest RAM");

    FILE *f = fopen(argv[1], "rb");
    if (!f)
        die(argv[1]);
    size_t n = fread(mem + LOAD_ADDR, 1, MEM_SIZE - LOAD_ADDR, f);
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "seed_vmm: %s: empty image\n", argv[1]);
        return 125;
    }

    struct kvm_userspace_memory_region region = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
        .userspace_addr = (uint64_t)(uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
        die("KVM_SET_USER_MEMORY_REGION");
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0)
        die("KVM_CREATE_VCPU");
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size < 0)
        die("KVM_GET_VCPU_MMAP_SIZE");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED)
        die("mmap kvm_run");

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
        die("KVM_GET_SREGS");
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.cs;
    sregs.ds.type = sregs.es.type = sregs.fs.type = sregs.gs.type = sregs.ss.type = 3;
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
        die("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = LOAD_ADDR, .rsp = 0xfffe, .rflags = 0x2};
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
        die("KVM_SET_REGS");

    unsigned long exits = 0;
    int status = 0;
    double t0 = now_us();
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            die("KVM_RUN");
        }
        exits++;
        if (run->exit_reason == KVM_EXIT_HLT)
            break;
        if (run->exit_reason != KVM_EXIT_IO) {
            fprintf(stderr, "seed_vmm: unhandled exit reason %u\n", run->exit_reason);
            status = 125;
            break;
        }
        if (run->io.direction != KVM_EXIT_IO_OUT)
            continue; /* IN: leave the data as is */
        uint8_t *data = (uint8_t *)run + run->io.data_offset;
        if (run->io.port == UART_PORT) {
            fwrite(data, run->io.size, run->io.count, stdout);
            continue;
        }
        if (run->io.port != HC_PORT)
            continue;
        /* The seed's handler: fetch every register on each hypercall. */
        if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0)
            die("KVM_GET_REGS");
        uint16_t bx = (uint16_t)regs.rbx;
        switch (data[0]) {
        case 0:
            status = bx;
            goto done;
        case 1:
            putchar(bx & 0xff);
            break;
        case 2:
            printf("%u", bx);
            break;
        case 3:
            putchar('\n');
            break;
        default:
            fprintf(stderr, "seed_vmm: unknown hypercall %u\n", data[0]);
            status = 125;
            goto done;
        }
    }
done:;
    double t1 = now_us();
    fflush(stdout);
    fprintf(stderr, "seed_vmm: exits=%lu loop_us=%.1f us_per_exit=%.3f status=%d\n", exits,
            t1 - t0, exits ? (t1 - t0) / exits : 0.0, status);
    return status & 0xff;
}
