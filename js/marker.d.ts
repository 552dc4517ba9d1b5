/** The marker's sequence number, or -1 (no marker) or -2 (corrupted). */
export declare function readMarker(imageData: ImageData): number;
