export * from '../../../testing/index.js'
export {
  type AutoscalingListing,
  autoscalingListing,
  type ListingRoute,
} from './autoscaling-listing.js'
export {
  COLD_ENDPOINT_RETRY_AFTER_S,
  createMockServing,
  defaultServingEndpoints,
  type MockServing,
  type MockServingEndpoint,
  type ServingRequest,
  type ServingRoute,
  SLOW_ENDPOINT_DELAY_MS,
} from './serving.js'
