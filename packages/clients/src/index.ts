/**
 * Placeholder until the package's first module lands.
 *
 * @since 0.1.0
 */
export {}
