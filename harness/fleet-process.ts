import { runFleetProcess } from "./fleet.js";

runFleetProcess();
