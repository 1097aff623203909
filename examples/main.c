/* Classify one 28x28 digit with an exported BNN: python -m bnn export RUN --to c --out bnn_model.c
   cc -std=c99 -O2 main.c bnn_model.c -o classify && ./classify digit.pgm
   (another file name: add -DBNN_HEADER='"name.h"'). The image: a binary PGM (P5, no comments), 28x28,
   maxval 255, white digit on black as in MNIST (-i inverts a black-on-white scan). */
#include <stdio.h>
#include <string.h>
#ifndef BNN_HEADER
#define BNN_HEADER "bnn_model.h"
#endif
#include BNN_HEADER

int main(int argc, char **argv)
{
    uint8_t pixels[BNN_PIXELS];
    int32_t scores[BNN_CLASSES];
    int width, height, maxval, i, invert = argc > 2 && strcmp(argv[1], "-i") == 0;
    FILE *file = argc > 1 ? fopen(argv[argc - 1], "rb") : NULL;
    if (!file || fscanf(file, "P5 %d %d %d", &width, &height, &maxval) != 3 || fgetc(file) == EOF ||
        width * height != BNN_PIXELS || maxval != 255 || fread(pixels, 1, BNN_PIXELS, file) != BNN_PIXELS) {
        fprintf(stderr, "usage: %s [-i] digit.pgm (binary PGM, 28x28, maxval 255)\n", argv[0]);
        return 2;
    }
    fclose(file);
    for (i = 0; invert && i < BNN_PIXELS; i++) pixels[i] = (uint8_t)(255 - pixels[i]);
    printf("%d\n", bnn_predict(pixels, scores));
    return 0;
}
