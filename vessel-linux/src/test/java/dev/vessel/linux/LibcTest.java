package dev.vessel.linux;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class LibcTest {
    @Test
    void failuresReturnMinusErrno() {
        assertThat(Libc.open("/nonexistent/file", Libc.O_RDONLY)).isEqualTo(-Libc.ENOENT);
        assertThat(Libc.close(-1)).isEqualTo(-Libc.EBADF);
        assertThatThrownBy(() -> Libc.check(-Libc.ENOENT, "open x"))
                .isInstanceOf(IOException.class).hasMessage("open x: No such file or directory (errno 2)");
    }

    @Test
    void readsAndWritesThroughAnEventfdAndEpoll() throws IOException {
        int eventFd = (int) Libc.check(Libc.eventfd(0, Libc.EFD_CLOEXEC | Libc.EFD_NONBLOCK), "eventfd");
        int epollFd = (int) Libc.check(Libc.epollCreate1(Libc.EPOLL_CLOEXEC), "epoll_create1");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment value = arena.allocate(JAVA_LONG);
            assertThat(Libc.read(eventFd, value, 8)).isEqualTo(-Libc.EAGAIN);
            Libc.check(Libc.epollCtl(epollFd, Libc.EPOLL_CTL_ADD, eventFd, Libc.EPOLLIN, 42), "epoll_ctl");
            MemorySegment events = arena.allocate(Libc.EPOLL_EVENT_SIZE, 8);
            assertThat(Libc.epollWait(epollFd, events, 1, 0)).isZero();

            value.set(JAVA_LONG, 0, 3);
            assertThat(Libc.write(eventFd, value, 8)).isEqualTo(8);

            assertThat(Libc.epollWait(epollFd, events, 1, 1000)).isEqualTo(1);
            assertThat(Libc.epollEventData(events, 0)).isEqualTo(42);
            assertThat(Libc.read(eventFd, value, 8)).isEqualTo(8);
            assertThat(value.get(JAVA_LONG, 0)).isEqualTo(3);
            assertThat(Libc.fcntl(eventFd, Libc.F_GETFL, 0) & Libc.O_NONBLOCK).isNotZero();
        } finally {
            Libc.close(epollFd);
            Libc.close(eventFd);
        }
    }
}
