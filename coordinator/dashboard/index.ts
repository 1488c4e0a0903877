/** The dashboard room: the `/dashboard` Socket.IO namespace that feeds the web page served by http/dashboard.ts. */
export { DashboardHub, type DashboardOptions, type DashboardSources, type RunsProvider } from './dashboard-hub.js';
