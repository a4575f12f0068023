/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

// `npm run dev` serves the dashboard with hot reload and proxies the API
// (REST and WebSocket) to a running host: PADDOCK_URL, default
// http://127.0.0.1:7700.
const target = process.env.PADDOCK_URL ?? 'http://127.0.0.1:7700';

export default defineConfig({
  plugins: [react(), tailwindcss()],
  server: {
    proxy: {
      '/api': {
        target,
        ws: true,
        changeOrigin: true,
        // The host takes requests that change state, and WebSocket
        // upgrades, only from its own origin: this dev server speaks for it.
        configure: (proxy) => {
          proxy.on('proxyReq', (proxyReq) => {
            if (proxyReq.getHeader('origin')) proxyReq.setHeader('origin', target);
          });
          proxy.on('proxyReqWs', (proxyReq) => proxyReq.setHeader('origin', target));
        },
      },
      // The one-time sign-in link `paddock serve` prints (open it with this
      // server's address instead of the host's).
      '/login': { target, changeOrigin: true },
      // Single sign-on: the provider's login and callback go through the host.
      '/auth': { target, changeOrigin: true },
      '/metrics': { target, changeOrigin: true },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts', 'src/**/*.test.tsx'],
  },
});
