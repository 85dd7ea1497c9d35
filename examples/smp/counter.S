# smp/counter.S: N vCPUs add to shared counters (`kasm run --cpus 4 examples/smp/counter.S`).
# Every vCPU adds 1 to `counter` ADDS times with `lock xaddl` (atomic across vCPUs), then ADDS
# times to `guarded` under a spinlock (`xchg` with memory is atomic; the plain `incl` inside is
# safe because only the lock's holder runs it), then counts itself into `done` and halts.
# vCPU 0 waits until `done` reaches N and prints the totals once:
#   "cpus 4, adds 1000 each: counter 4000, guarded 4000"
# Both totals are exactly N x ADDS however the vCPUs interleave. VM exits: HC_CPU_ID and HLT
# on every vCPU, and vCPU 0's 9 hypercalls of output.
#include <hypercall.h>

.equ ADDS, 1000

.code32
.globl _start
_start:
    hc_cpu_id                   # EAX = this vCPU's id, EBX = the number of vCPUs
    movl %eax, %esi
    movl %ebx, %edi

    movl $ADDS, %ecx
add_atomically:
    movl $1, %eax
    lock xaddl %eax, counter
    loop add_atomically

    movl $ADDS, %ecx
add_under_lock:
    call acquire
    incl guarded
    movl $0, spinlock           # release: a plain store (x86 keeps stores in order)
    loop add_under_lock

    lock incl done
    testl %esi, %esi
    jnz finished                # vCPUs other than 0 are done

wait_for_all:
    pause
    cmpl %edi, done
    jne wait_for_all

    hc_print "cpus "
    hc_putnum %edi
    hc_print ", adds "
    hc_putnum $ADDS
    hc_print " each: counter "
    hc_putnum counter
    hc_print ", guarded "
    hc_putnum guarded
    hc_newline
finished:
    hlt

# Take the spinlock: swap 1 in; whoever swapped out 0 holds it. Waiters only read the lock
# until it looks free, so they do not keep taking its cache line from the holder.
acquire:
    movl $1, %eax
1:  xchgl %eax, spinlock
    testl %eax, %eax
    jz 3f
2:  pause
    cmpl $0, spinlock
    jne 2b
    jmp 1b
3:  ret

.data
.align 4
counter:  .long 0
guarded:  .long 0
spinlock: .long 0
done:     .long 0
