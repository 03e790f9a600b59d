export { EVENT_VERSION } from './event/types.js';
