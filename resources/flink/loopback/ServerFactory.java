package org.apache.beam.sdk.fn.server;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.apache.beam.model.pipeline.v1.Endpoints.ApiServiceDescriptor;
import org.apache.beam.sdk.fn.channel.SocketAddressFactory;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.BindableService;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.Server;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.ServerInterceptors;
import org.apache.beam.vendor.grpc.v1p60p1.io.grpc.netty.NettyServerBuilder;

/**
 * Loopback-only gRPC servers for the Python workers of PyFlink's process mode.
 *
 * <p>Beam's {@code ServerFactory.InetSocketAddressServerFactory} (inside flink-python) advertises
 * {@code localhost:<port>} to the Python worker but binds its gRPC servers with
 * {@code NettyServerBuilder.forPort}, i.e. on every interface of the machine. Only the nested class
 * below is shipped (as {@code beam-fn-loopback.jar}, ahead of flink-python on Flink's classpath): it
 * is the same factory, binding to the address it advertises. The outer class here is a compile-time
 * stand-in for Beam's (same package, same signatures) and is never shipped.
 */
public abstract class ServerFactory {

    public abstract Server allocateAddressAndCreate(
            List<BindableService> services, ApiServiceDescriptor.Builder descriptor) throws IOException;

    public abstract Server create(List<BindableService> services, ApiServiceDescriptor descriptor)
            throws IOException;

    /** As Beam's: makes the URL advertised for a server's address and port. */
    public interface UrlFactory {
        String createUrl(String address, int port);
    }

    /** The factory Beam uses by default, binding every server to the loopback address. */
    public static class InetSocketAddressServerFactory extends ServerFactory {
        /** Beam's own keep-alive allowance for its workers' pings. */
        private static final long KEEP_ALIVE_SECONDS = 19;

        private final UrlFactory urlFactory;
        private final Supplier<Integer> portSupplier;

        private InetSocketAddressServerFactory(UrlFactory urlFactory) {
            this(urlFactory, () -> 0);
        }

        private InetSocketAddressServerFactory(UrlFactory urlFactory, Supplier<Integer> portSupplier) {
            this.urlFactory = urlFactory;
            this.portSupplier = portSupplier;
        }

        @Override
        public Server allocateAddressAndCreate(
                List<BindableService> services, ApiServiceDescriptor.Builder descriptor) throws IOException {
            InetSocketAddress address = new InetSocketAddress(InetAddress.getLoopbackAddress(), portSupplier.get());
            Server server = createServer(services, address);
            descriptor.setUrl(urlFactory.createUrl(address.getHostName(), server.getPort()));
            return server;
        }

        @Override
        public Server create(List<BindableService> services, ApiServiceDescriptor descriptor) throws IOException {
            SocketAddress address = SocketAddressFactory.createFrom(descriptor.getUrl());
            if (!(address instanceof InetSocketAddress)) {
                throw new IllegalArgumentException(
                        "InetSocketAddressServerFactory requires a host:port socket address, got " + descriptor.getUrl());
            }
            return createServer(services, (InetSocketAddress) address);
        }

        private static Server createServer(List<BindableService> services, InetSocketAddress address)
                throws IOException {
            NettyServerBuilder builder = NettyServerBuilder.forAddress(address)
                    .maxInboundMessageSize(Integer.MAX_VALUE)
                    .permitKeepAliveTime(KEEP_ALIVE_SECONDS, TimeUnit.SECONDS);
            for (BindableService service : services) {
                // The worker id travels in a header the services read through this interceptor, as in Beam's.
                builder.addService(ServerInterceptors.intercept(service, GrpcContextHeaderAccessorProvider.interceptor()));
            }
            return builder.build().start();
        }
    }
}
