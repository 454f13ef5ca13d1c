"""The critic batch tool: judge the physical plausibility of videos and recordings, with no ROS graph.

``inputs`` finds and decodes clips (videos, image folders, rosbag2 via ``rosbags``), ``judge`` turns one
clip into a report record with the core's Mode.CRITIC, ``engines`` runs judges locally or on Ray,
``report`` writes and resumes the JSON Lines report, ``cli`` is the command line. Nothing here imports ROS.
"""
