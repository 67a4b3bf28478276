/*
 * memfill — the lab guest's memory filler (runs inside the guest).
 *
 * Lab tests need guest memory whose duplicate structure they know exactly:
 * how many pages are identical within one guest, how many are identical
 * across guests, how many are unique, how many are zero. memfill makes such
 * memory. One invocation = one "fill": the process forks a child that maps
 * MIB mebibytes of anonymous memory, writes every 4 KiB page according to a
 * pattern, reports success through a pipe and then holds the memory until it
 * is killed. The parent prints the child's PID and exits, so the agent shell
 * runs memfill synchronously and gets control back once the memory is really
 * written (a fill that was OOM-killed half-way is reported as such).
 *
 * Patterns (every page is written across all of its 4 KiB, 512 64-bit words,
 * so two pages are equal only when the pattern says so):
 *   same SEED    every page of the fill identical: word j = mix(SEED, S, j)
 *   image SEED   page i: word j = mix(SEED, I + i, j); two fills (in one guest
 *                or in two guests) with the same SEED are page-for-page
 *                identical, while the pages of one fill differ from each other
 *   unique       page i from a random 64-bit key: unique everywhere
 *   zero         every page written with zeros (present, zero-filled)
 * S and I are domain constants so that a "same" page never equals an "image"
 * page. mix() is the splitmix64 finaliser, cheap enough for TCG guests.
 *
 * A "hold" fill (mode hold) writes unique pages and then keeps its working
 * set in use: every second it rewrites one word of each page, so balloon or
 * memory-pressure tests see a live working set; if the guest kernel must
 * OOM-kill it, the agent reports it from the kernel log.
 *
 * Two more modes make and read the lab disk (LAB_DISK_MIB, page cache):
 *   disk FILE MIB SEED   (on the host) write MIB mebibytes to FILE, page i
 *                        = mix(SEED, D + i, j) per word j, D a third domain
 *                        constant: seeded, repeatable, no page zero and no
 *                        two pages equal, none equal to a fill's page
 *   read FILE SKIP MIB   (in the guest) read MIB mebibytes of FILE from
 *                        SKIP MiB on, 1 MiB at a time, through the page
 *                        cache; print "bytes=N ms=T" (T monotonic, 0.1 ms)
 *
 * Usage: memfill fill MIB same|image|unique|zero SEED
 *        memfill hold MIB
 *        memfill disk FILE MIB SEED | memfill read FILE SKIP_MIB MIB
 * Output (stdout of the parent): "pid=PID pages=N", exit 0; on failure
 * "error: ..." and exit 1 ("error: killed by signal 9" after an OOM kill,
 * "error: mmap ..." when the guest kernel refuses the mapping).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE_BYTES 4096u
#define WORDS_PER_PAGE (PAGE_BYTES / sizeof(uint64_t))
#define DOMAIN_SAME 0x5a4d45ull /* "same" pages */
#define DOMAIN_IMAGE 0x1000000000ull /* "image" page i uses DOMAIN_IMAGE + i */
#define DOMAIN_DISK 0x2000000000ull /* disk page i uses DOMAIN_DISK + i */

enum pattern { PAT_SAME, PAT_IMAGE, PAT_UNIQUE, PAT_ZERO };

/* splitmix64 finaliser: a bijective mix of one 64-bit word. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Write one page: word j = mix(key ^ mix(j)), key already seed-derived. */
static void fill_page(uint64_t *page, uint64_t key)
{
    for (unsigned j = 0; j < WORDS_PER_PAGE; j++)
        page[j] = mix(key + (uint64_t)j * 0xd1b54a32d192ed03ull);
}

/* Fill npages pages at mem according to pat and seed. */
static void fill(uint8_t *mem, size_t npages, enum pattern pat, uint64_t seed)
{
    uint64_t base = mix(seed);
    uint64_t rnd = 0;

    if (pat == PAT_UNIQUE) {
        if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
            rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        base = mix(rnd);
    }
    for (size_t i = 0; i < npages; i++) {
        uint64_t *page = (uint64_t *)(mem + i * PAGE_BYTES);
        switch (pat) {
        case PAT_ZERO:
            memset(page, 0, PAGE_BYTES);
            break;
        case PAT_SAME:
            if (i == 0)
                fill_page(page, mix(base ^ DOMAIN_SAME));
            else
                memcpy(page, mem, PAGE_BYTES);
            break;
        case PAT_IMAGE:
        case PAT_UNIQUE:
            fill_page(page, mix(base ^ (DOMAIN_IMAGE + i)));
            break;
        }
    }
}

static int parse_pattern(const char *s, enum pattern *pat)
{
    static const char *names[] = { "same", "image", "unique", "zero" };
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *pat = (enum pattern)i;
            return 0;
        }
    return -EINVAL;
}

static void usage(void)
{
    printf("error: usage: memfill fill MIB same|image|unique|zero SEED | memfill hold MIB"
           " | memfill disk FILE MIB SEED | memfill read FILE SKIP_MIB MIB\n");
    exit(1);
}

/* disk FILE MIB SEED: the lab disk's data, 1 MiB written at a time. */
static int make_disk(const char *path, size_t mib, uint64_t seed)
{
    static uint64_t buf[(1u << 20) / sizeof(uint64_t)];
    const size_t per_mib = (1u << 20) / PAGE_BYTES;
    uint64_t base = mix(seed);
    FILE *f = fopen(path, "wb");

    if (!f) {
        printf("error: %s: %s\n", path, strerror(errno));
        return 1;
    }
    for (size_t m = 0; m < mib; m++) {
        for (size_t p = 0; p < per_mib; p++)
            fill_page(buf + p * WORDS_PER_PAGE, mix(base ^ (DOMAIN_DISK + m * per_mib + p)));
        if (fwrite(buf, sizeof(buf), 1, f) != 1) {
            printf("error: writing %s: %s\n", path, strerror(errno));
            fclose(f);
            return 1;
        }
    }
    if (fclose(f) != 0) {
        printf("error: writing %s: %s\n", path, strerror(errno));
        return 1;
    }
    printf("bytes=%zu\n", mib << 20);
    return 0;
}

/* read FILE SKIP_MIB MIB: read through the page cache, timed. */
static int read_timed(const char *path, size_t skip, size_t mib)
{
    static char buf[1u << 20];
    struct timespec t0, t1;
    size_t total = 0;
    int fd = open(path, O_RDONLY);

    if (fd < 0) {
        printf("error: %s: %s\n", path, strerror(errno));
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (total < mib << 20) {
        ssize_t n = pread(fd, buf, sizeof(buf), (off_t)((skip << 20) + total));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            printf("error: reading %s: %s\n", path, strerror(errno));
            close(fd);
            return 1;
        }
        if (n == 0)
            break;
        total += (size_t)n;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(fd);
    printf("bytes=%zu ms=%.1f\n", total,
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    return total == mib << 20 ? 0 : 1;
}

/* The child: map, fill, report through fd, then hold forever. */
static void child(int fd, size_t mib, int hold, enum pattern pat, uint64_t seed)
{
    size_t bytes = mib << 20, npages = bytes / PAGE_BYTES;
    uint8_t *mem;
    char msg[64];
    FILE *f;

    /* The agent runs with oom_score_adj -1000; fills are fair game. */
    f = fopen("/proc/self/oom_score_adj", "w");
    if (f) {
        fputs("0", f);
        fclose(f);
    }
    mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        snprintf(msg, sizeof(msg), "error: mmap %zu MiB: %s\n", mib, strerror(errno));
        if (write(fd, msg, strlen(msg)) < 0)
            _exit(3);
        _exit(2);
    }
    fill(mem, npages, hold ? PAT_UNIQUE : pat, seed);
    snprintf(msg, sizeof(msg), "pages=%zu\n", npages);
    if (write(fd, msg, strlen(msg)) < 0)
        _exit(3);
    close(fd);
    for (uint64_t round = 1;; round++) {
        if (!hold) {
            pause();
            continue;
        }
        sleep(1);
        for (size_t i = 0; i < npages; i++)
            ((volatile uint64_t *)(mem + i * PAGE_BYTES))[0] = round ^ i;
    }
}

int main(int argc, char **argv)
{
    enum pattern pat = PAT_UNIQUE;
    uint64_t seed = 0;
    int hold, pfd[2], status;
    char buf[64] = "";
    ssize_t n;
    size_t mib;
    pid_t pid;

    if (argc < 3)
        usage();
    if (strcmp(argv[1], "disk") == 0) {
        if (argc < 5 || strtoull(argv[3], NULL, 10) == 0)
            usage();
        return make_disk(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 0));
    }
    if (strcmp(argv[1], "read") == 0) {
        if (argc < 5 || strtoull(argv[4], NULL, 10) == 0)
            usage();
        return read_timed(argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10));
    }
    hold = strcmp(argv[1], "hold") == 0;
    if (!hold && strcmp(argv[1], "fill") != 0)
        usage();
    mib = strtoull(argv[2], NULL, 10);
    if (mib == 0)
        usage();
    if (!hold) {
        if (argc < 4 || parse_pattern(argv[3], &pat) < 0)
            usage();
        if (argc >= 5)
            seed = strtoull(argv[4], NULL, 0);
    }
    if (pipe(pfd) < 0) {
        printf("error: pipe: %s\n", strerror(errno));
        return 1;
    }
    pid = fork();
    if (pid < 0) {
        printf("error: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        close(pfd[0]);
        /* Let go of the caller's stdio: the agent reads our parent's
         * output until end of file. */
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
            if (null > 2)
                close(null);
        }
        setsid();
        signal(SIGHUP, SIG_IGN);
        child(pfd[1], mib, hold, pat, seed);
    }
    close(pfd[1]);
    n = read(pfd[0], buf, sizeof(buf) - 1);
    if (n <= 0) {
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status))
            printf("error: killed by signal %d\n", WTERMSIG(status));
        else
            printf("error: exited with status %d\n", WEXITSTATUS(status));
        return 1;
    }
    buf[n] = 0;
    if (strncmp(buf, "error:", 6) == 0) {
        waitpid(pid, &status, 0);
        printf("%s", buf);
        return 1;
    }
    printf("pid=%d %s", (int)pid, buf);
    return 0;
}
