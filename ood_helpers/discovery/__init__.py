"""Online open-world class discovery (paper 000, section 6, "future work"): a stream of images, each
compared with every class in memory; assigned to the best class when its score passes a threshold,
else the first image of a new class. ``stream`` builds the seeded streams, ``rule`` runs the rule
over any batched class scorer, ``scorers`` holds eq. 1 and the nearest-neighbour scorers,
``metrics`` measures a finished stream, ``experiment`` chooses thresholds on validation classes and
runs the test streams, ``settings`` sizes it per profile."""
